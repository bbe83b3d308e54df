package config

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Secret references: a whole string value of the form ${env:NAME} or
// ${file:/path} is replaced by the variable's value or the file's content
// (minus one trailing newline). Any other value that starts with "${" and
// ends with "}" is an error rather than a literal, so that a mistyped
// reference (${ENV:X}) never silently becomes a password. A value that
// really starts with "${" is written with "$${": the first "$" is dropped.

const maxSecretFile = 1 << 20 // secrets are small; this bounds a mistake such as /dev/zero

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolveRef expands s when it is a secret reference. It returns the
// reference text (for messages), the value to use, and whether s was a
// reference. Errors never contain the secret value.
func resolveRef(s string) (ref, val string, isRef bool, err error) {
	if strings.HasPrefix(s, "$${") {
		return "", s[1:], false, nil
	}
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
		return "", s, false, nil
	}
	ref = s
	scheme, arg, _ := strings.Cut(s[2:len(s)-1], ":")
	switch scheme {
	case "env":
		if !envNameRE.MatchString(arg) {
			return ref, "", true, fmt.Errorf("invalid secret reference %s: the variable name must match %s", ref, envNameRE)
		}
		v, ok := os.LookupEnv(arg)
		if !ok {
			return ref, "", true, fmt.Errorf("environment variable %s (from %s) is not set", arg, ref)
		}
		return ref, v, true, nil
	case "file":
		if arg == "" {
			return ref, "", true, fmt.Errorf("invalid secret reference %s: the file path is empty", ref)
		}
		v, err := readSecretFile(arg)
		if err != nil {
			return ref, "", true, fmt.Errorf("secret reference %s: %w", ref, err)
		}
		return ref, v, true, nil
	}
	return ref, "", true, fmt.Errorf("unknown secret reference %s (use ${env:NAME} or ${file:/path}; write $${ for a literal ${)", ref)
}

// readSecretFile reads a small regular file and trims one trailing newline.
func readSecretFile(path string) (string, error) {
	if err := checkRegularFile(path); err != nil {
		return "", fmt.Errorf("cannot read the file: %w", err)
	}
	f, err := os.Open(path) // #nosec G304 -- a ${file:} reference the operator wrote
	if err != nil {
		return "", fmt.Errorf("cannot read the file: %w", stripPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read the file: %w", stripPath(err))
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("the file is larger than %d bytes", maxSecretFile)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}

// checkRegularFile refuses directories, devices and FIFOs (opening a FIFO
// would block the load).
func checkRegularFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return stripPath(err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	return nil
}

// stripPath drops the path from an *os.PathError: the caller's message
// already names it.
func stripPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
