// An AudioWorklet processor that turns the microphone's float samples into
// 16-bit linear PCM, mono, at processorOptions.targetRate (averaging the
// input samples that fall in each output sample, which also filters out
// what the lower rate cannot carry), and posts ~100 ms chunks to the page.

class PCM16 extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.ratio = sampleRate / (o.targetRate || sampleRate);
    this.chunk = Math.round((o.targetRate || sampleRate) / 10);
    this.out = new Int16Array(this.chunk);
    this.n = 0;
    this.acc = 0; // sum of input samples for the output sample being built
    this.count = 0; // how many input samples (fractional) are in acc
    this.port.onmessage = (e) => {
      if (e.data === 'flush') this.flush();
    };
  }

  emit(v) {
    const s = Math.max(-1, Math.min(1, v));
    this.out[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    if (this.n === this.chunk) this.flush();
  }

  flush() {
    if (this.n === 0) return;
    const buf = this.out.slice(0, this.n).buffer;
    this.port.postMessage(buf, [buf]);
    this.n = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const ch = input[0];
    const channels = input.length;
    for (let i = 0; i < ch.length; i++) {
      let v = ch[i];
      for (let c = 1; c < channels; c++) v += input[c][i];
      v /= channels;
      if (this.ratio === 1) {
        this.emit(v);
        continue;
      }
      const room = this.ratio - this.count; // how much of this sample the current output still takes
      if (room > 1) {
        this.acc += v;
        this.count += 1;
      } else {
        this.acc += v * room;
        this.emit(this.acc / this.ratio);
        this.acc = v * (1 - room);
        this.count = 1 - room;
      }
    }
    return true;
  }
}

registerProcessor('pcm16', PCM16);
