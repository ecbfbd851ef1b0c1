// Command scribegate is the gateway between an AI scribe and the EHRs
// clinicians chart in, with the operator's tools beside it.
//
//	scribegate serve   [-config FILE]            run the gateway
//	scribegate token   [-config FILE] -sub ID -clinic ID [-role clinician|reviewer|admin] [-name NAME] [-ttl 12h]
//	scribegate stream  [-url URL] [-token JWT] -patient ID [-encounter ID] [-template soap] [-speed 1] FILE.wav
//	scribegate eval    [-data DIR] [-split valid|train] [-template soap]
//	scribegate load    [-sessions 100] [-duration 20s] [-interim=true] [-url ws://127.0.0.1:PORT]
//	scribegate connectors check [-config FILE]
//	scribegate version
//
// main only parses flags and configuration and wires the parts together; the
// behaviour lives in the gateway, transcription, review and connectors
// packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "scribegate:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage: scribegate <command> [flags]

commands:
  serve              run the gateway
  token              mint a development token (shared-secret mode only)
  stream FILE.wav    stream a WAV file to a running gateway as a consultation
  eval               score the offline drafter on ACI-Bench dialogues
  load               measure the gateway under N real-time sessions (loopback only)
  connectors check   fetch a token and the CapabilityStatement of each connector
  version            print the version

Run "scribegate <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "token":
		return runToken(rest, stdout, stderr)
	case "stream":
		return runStream(ctx, rest, stdout, stderr)
	case "eval":
		return runEval(ctx, rest, stdout)
	case "load":
		return runLoad(ctx, rest, stdout, stderr)
	case "connectors":
		if len(rest) == 0 || rest[0] != "check" {
			return errors.New(`usage: scribegate connectors check [-config FILE]`)
		}
		return runCheck(ctx, rest[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "scribegate", buildVersion())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// buildVersion prefers the version stamped at link time, then the module
// version Go recorded.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// parseConfigured parses args with fs and the -config flag every
// configured command takes (default $SCRIBEGATE_CONFIG), and loads that
// configuration with the environment's overrides.
func parseConfigured(fs *flag.FlagSet, args []string) (Config, error) {
	path := fs.String("config", os.Getenv("SCRIBEGATE_CONFIG"), "configuration `file` (YAML); empty for the embedded defaults")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return loadConfig(*path, os.Environ())
}
