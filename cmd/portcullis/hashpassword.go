package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/portcullis/portcullis/internal/auth"
)

// stdin is where secrets are read from (replaced in tests).
var stdin io.Reader = os.Stdin

// cmdHashPassword prints the bcrypt or argon2id hash of a password read
// from standard input, for a consumer's basic credential. The password is
// never taken from a flag, where it would land in shell history and ps.
func cmdHashPassword(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("hash-password", "Read a password from standard input (without echo on a terminal) and print its hash for a basic credential.", stderr)
	alg := fs.String("algorithm", auth.AlgorithmArgon2id, "argon2id or bcrypt")
	cost := fs.Int("cost", 0, "bcrypt cost (default 10)")
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	if *alg != auth.AlgorithmArgon2id && *alg != auth.AlgorithmBcrypt {
		fmt.Fprintf(stderr, "portcullis hash-password: unknown --algorithm %q (argon2id or bcrypt)\n", *alg)
		return 2
	}
	pw, err := readSecret("Password: ", true, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis hash-password: %v\n", err)
		return 1
	}
	h, err := auth.HashPassword(*alg, []byte(pw), *cost)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// maxSecret bounds what is read from standard input.
const maxSecret = 4096

// readSecret reads one line: from a terminal without echo (twice when
// confirm is set), otherwise the first line of standard input. Only the
// line ending is removed: spaces may be part of a password.
func readSecret(prompt string, confirm bool, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) { // #nosec G115 -- a file descriptor fits in an int
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd())) // #nosec G115
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read from terminal: %w", err)
		}
		if confirm {
			fmt.Fprint(stderr, "Again: ")
			again, err := term.ReadPassword(int(f.Fd())) // #nosec G115
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("read from terminal: %w", err)
			}
			if string(again) != string(b) {
				return "", errors.New("the two entries differ")
			}
		}
		return string(b), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(stdin, maxSecret+1), maxSecret+1).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	if len(line) > maxSecret {
		return "", fmt.Errorf("standard input: more than %d bytes on the first line", maxSecret)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("nothing on standard input")
	}
	return line, nil
}
