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
		return "", fmt.Errorf("environment variable %s is not set", env)
	}
	return "", errors.New("set a _file or _env setting")
}

// ParseTimeout reads a timeout setting ("30s"): empty means def; anything
// else must be a positive duration, so a typo fails at start-up rather than
// making every request time out at once.
func ParseTimeout(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("timeout %q is not a positive duration", s)
	}
	return d, nil
}
