package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/config"
)

const keysUsage = `Usage:
  portcullis keys generate [--prefix pcl] [--id ID]
      print a new API key (once) and the config entry with its hash
  portcullis keys hash
      read a key from standard input and print its hash (to migrate keys)
`

// cmdKeys generates API keys and hashes existing ones. Only the hash goes
// into the config; the key is shown once and kept by its owner.
func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "generate":
		return cmdKeysGenerate(args[1:], stdout, stderr)
	case "hash":
		return cmdKeysHash(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "portcullis keys: unknown subcommand %q\n\n%s", args[0], keysUsage)
	return 2
}

func cmdKeysGenerate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("keys generate", "Print a new API key (shown only this once) and the config entry with its SHA-256 hash.", stderr)
	prefix := fs.String("prefix", "pcl", "the key's recognizable prefix (letters, digits, '_'), e.g. pk_live")
	id := fs.String("id", "", "the key's id in the config (default key-<date>-<random>)")
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	// Never print a key whose config entry the loader then refuses: the id
	// is checked by the loader's own rule first.
	if *id != "" && !config.ValidName(*id) {
		fmt.Fprintf(stderr, "portcullis keys generate: --id %q: a key id %s\n", *id, config.NameRule())
		return 2
	}
	key, err := apikey.Generate(*prefix)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis keys generate: %v\n", err)
		return 2
	}
	if *id == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			fmt.Fprintf(stderr, "portcullis keys generate: %v\n", err)
			return 1
		}
		*id = "key-" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
	}
	hash := apikey.Hash(key).String()
	fmt.Fprintf(stdout, `key: %s
hash: %s

The key is shown only this once; the gateway keeps only its hash.
Add this to the consumer's credentials:

    api_keys:
      - id: %s
        hash: %s
        # expires_at: 2027-01-01T00:00:00Z
`, key, hash, *id, hash)
	return 0
}

func cmdKeysHash(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("keys hash", "Read an API key from standard input and print the hash to put in the config.", stderr)
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	key, err := readSecret("API key: ", false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis keys hash: %v\n", err)
		return 1
	}
	key = strings.TrimSpace(key)
	switch err := apikey.Check(key); {
	case errors.Is(err, apikey.ErrChecksum):
		fmt.Fprintln(stderr, "portcullis keys hash: the key's checksum does not match: it was changed or cut while copying")
		return 1
	case len(key) > apikey.MaxLen:
		fmt.Fprintf(stderr, "portcullis keys hash: keys longer than %d characters are never accepted\n", apikey.MaxLen)
		return 1
	case err != nil && len(key) < 20:
		fmt.Fprintln(stderr, "portcullis keys hash: the key is too short to be a secure key (20 characters at least)")
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "portcullis keys hash: note: not a Portcullis key (no checksum); a route accepts it only with `legacy_keys: true`")
	}
	fmt.Fprintln(stdout, apikey.Hash(key).String())
	return 0
}
