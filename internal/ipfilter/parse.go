package ipfilter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
)

// maxListLine bounds one line of a CIDR file: a longer line is an error,
// not a reason to buffer without end.
const maxListLine = 4096

// ParsePrefix reads a CIDR or a single address by config's one rule
// (config.ParsePrefix: no host bits, IPv4-mapped IPv6 as IPv4, no zone), after
// trimming surrounding white space (policy lists are not validated by the
// config loader, and a list file's lines may carry it).
func ParsePrefix(s string) (netip.Prefix, error) {
	return config.ParsePrefix(strings.TrimSpace(s))
}

// ParsePrefixes parses a list of CIDRs or addresses; the error names the
// index of the first bad entry.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseCIDRList reads a list file: one CIDR or address per line; blank
// lines and everything after a '#' are ignored. The error names the line.
func ParseCIDRList(r io.Reader) ([]netip.Prefix, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxListLine)
	var out []netip.Prefix
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if i := bytes.IndexByte(b, '#'); i >= 0 {
			b = b[:i]
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		p, err := ParsePrefix(string(b))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// ReadCIDRFile reads a list file (see ParseCIDRList).
func ReadCIDRFile(path string) ([]netip.Prefix, error) {
	f, err := os.Open(path) // #nosec G304 -- a path the operator wrote in the config
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	defer f.Close()
	ps, err := ParseCIDRList(f)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return ps, nil
}
