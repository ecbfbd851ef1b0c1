package connectors

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ReadSecret loads a connector's secret (client secret, subscription key,
// token) from the file or the environment variable its settings name —
// the *_file and *_env pairs every connector offers so that secrets never
// sit in configuration. Exactly one of file and env must be set; the value
// is trimmed of surrounding white space (a trailing newline in a secret
// file) and must not be empty.
func ReadSecret(file, env string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", errors.New("set one of the _file and _env settings, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s is empty", file)
	case env != "":
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("environment variable %s is empty or not set", env)
	}
	return "", errors.New("set a _file or _env setting")
}

// Timeout is a duration setting as a connector uses it (every connector's
// durations are time.Duration, written "30s" in YAML): def when the setting
// is absent (0), else d, which must be at least a millisecond. A negative
// one is a typo, as is "30ns" (a bare `timeout: 30` is already refused by
// DecodeSettings, which wants a unit): both fail at start-up rather than
// make every request time out at once.
func Timeout(d, def time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < time.Millisecond:
		return 0, fmt.Errorf("timeout %v is not a positive duration of at least 1ms (write it with a unit: 30s)", d)
	}
	return d, nil
}
