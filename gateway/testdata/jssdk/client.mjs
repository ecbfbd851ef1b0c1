// client.mjs drives Deepgram's official JavaScript SDK against a gateway,
// for gateway/jssdk_test.go. Usage:
//
//	node client.mjs MODE BASE_URL TOKEN AUDIO_FILE [SESSION]
//
// MODE is live (stream a raw linear16 file with interim results),
// reconnect (stream half, print "DROP" once the gateway has stored it and
// wait for the gateway to drop the socket, then send the rest after the
// SDK's own reconnect), file (transcribeFile of a WAV file) or refused
// (transcribeFile with a parameter the gateway refuses). It prints one
// JSON line per event the test checks, and "END" last.
import { readFileSync } from 'node:fs';
import { DeepgramClient } from '@deepgram/sdk';

const [mode, base, token, audioPath, session] = process.argv.slice(2);
const client = new DeepgramClient({ apiKey: token, environment: { base, production: base.replace(/^http/, 'ws') } });
const audio = readFileSync(audioPath);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const CHUNK = 3200; // 100 ms at 16 kHz

async function live(query, { dropAfter } = {}) {
  const socket = await client.listen.v1.connect({
    model: 'nova-3', encoding: 'linear16', sample_rate: 16000, channels: 1,
    interim_results: 'true', punctuate: 'true', patient: 'pat-js', ...query,
    // The documented pattern: reconnect unless finished, refused or taken over.
    shouldReconnect: (e) => ![1000, 1008, 1011, 4001].includes(e.code),
  });
  let opens = 0;
  let wake = () => {};
  let durable = 0;
  let done;
  const closed = new Promise((resolve) => { done = resolve; });
  socket.on('open', () => { opens++; out({ event: 'open', n: opens }); wake(); });
  socket.on('message', (m) => {
    if (m.type === 'Durable') durable = Math.max(durable, m.bytes);
    if (m.type === 'Results') {
      out({ event: 'Results', is_final: m.is_final, start: m.start, transcript: m.channel.alternatives[0].transcript });
    } else if (m.type !== 'Durable') {
      out({ event: m.type, message: m });
    }
    wake();
  });
  socket.on('close', (e) => {
    out({ event: 'close', code: e.code, reason: e.reason });
    if (e.code === 1000 || e.code === 4001) done();
  });
  socket.on('error', (e) => out({ event: 'error', message: String(e && e.message) }));
  socket.connect();
  await socket.waitForOpen();
  const until = async (cond) => { while (!cond()) await new Promise((r) => { wake = r; setTimeout(r, 50); }); };
  // An app holds what it captures while the SDK reconnects, then sends it.
  for (let off = 0; off < audio.length; off += CHUNK) {
    await until(() => socket.readyState === 1);
    socket.sendMedia(audio.subarray(off, off + CHUNK));
    if (dropAfter !== undefined && off + CHUNK >= dropAfter && opens === 1) {
      await until(() => durable >= Math.min(off + CHUNK, audio.length));
      out({ event: 'DROP' });
      await until(() => opens > 1);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await until(() => socket.readyState === 1);
  socket.sendCloseStream({ type: 'CloseStream' });
  await closed;
}

try {
  switch (mode) {
    case 'live':
      await live({});
      break;
    case 'reconnect':
      await live({ session }, { dropAfter: Math.floor(audio.length / 2 / CHUNK) * CHUNK });
      break;
    case 'file': {
      const resp = await client.listen.v1.media.transcribeFile(audio, { model: 'nova-3', tag: 'upload' },
        // The gateway's own parameters go as extra query parameters; no
        // retry (a retried upload would be a second consultation).
        { queryParams: { patient: 'pat-file' }, maxRetries: 0, timeoutInSeconds: 300 });
      out({ event: 'response', response: resp });
      break;
    }
    case 'refused':
      try {
        await client.listen.v1.media.transcribeFile(audio, { model: 'nova-3', diarize: true }, { queryParams: { patient: 'pat-file' }, maxRetries: 0 });
        out({ event: 'response' });
      } catch (e) {
        out({ event: 'refused', name: e.constructor.name, status: e.statusCode, message: e.message, body: e.body });
      }
      break;
    default:
      throw new Error('unknown mode ' + mode);
  }
} catch (e) {
  out({ event: 'exception', message: String(e && e.stack || e) });
}
out({ event: 'END' });
process.exit(0);
