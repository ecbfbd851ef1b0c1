package main

import (
	"log/slog"
	"testing"

	"github.com/scribegate/scribegate/transcription"
)

func TestEngineLimit(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want int
	}{
		{"sphinx: its decoders", nil, 2},
		{"sphinx with more decoders", []string{"SCRIBEGATE_TRANSCRIPTION_SPHINX_DECODERS=4"}, 4},
		{"openai default", []string{"SCRIBEGATE_TRANSCRIPTION_ENGINE=openai"}, defaultOpenAIConcurrency},
		{"openai set", []string{"SCRIBEGATE_TRANSCRIPTION_ENGINE=openai", "SCRIBEGATE_TRANSCRIPTION_MAX_CONCURRENT=32"}, 32},
		{"negative: no bound", []string{"SCRIBEGATE_TRANSCRIPTION_ENGINE=openai", "SCRIBEGATE_TRANSCRIPTION_MAX_CONCURRENT=-1"}, 0},
		{"synthetic: no bound", []string{"SCRIBEGATE_TRANSCRIPTION_ENGINE=synthetic"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig("", tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := engineLimit(cfg.Transcription); got != tt.want {
				t.Errorf("limit %d, want %d", got, tt.want)
			}
		})
	}
	// The engine the gateway gets is the limited one, so its load is seen.
	cfg, err := loadConfig("", []string{"SCRIBEGATE_TRANSCRIPTION_ENGINE=synthetic", "SCRIBEGATE_TRANSCRIPTION_MAX_CONCURRENT=3"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(cfg.Transcription, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := e.(*transcription.LimitedEngine); !ok || l.Cap() != 3 {
		t.Errorf("engine %T, want a LimitedEngine of 3", e)
	}
}
