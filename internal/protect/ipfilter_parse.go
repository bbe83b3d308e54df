package protect

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
)

// maxListLine bounds one line of a CIDR file: a longer line is an error,
// not a reason to buffer without end.
const maxListLine = 4096

// ParsePrefix accepts a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single
// address ("192.0.2.7", "::1"), and returns it masked and normalized
// (IPv4-mapped IPv6 becomes IPv4; zones are dropped).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return normalizePrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
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
