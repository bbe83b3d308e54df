package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// users runs "portcullis admin users ...": administrators (people). A
// password comes from $PORTCULLIS_ADMIN_USER_PASSWORD or --password-file,
// never from a flag's value (flags are visible to every local user). The
// enrolment (otpauth URI, recovery codes) is printed once; --qr-file
// writes the QR code as a PNG file (mode 0600) for the person to scan.
func (c *adminClient) users(verb string, rest []string, fail func(string) int) int {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	role := fs.String("role", "", "viewer, operator or admin")
	pwFile := fs.String("password-file", "", "file holding the password (default: $PORTCULLIS_ADMIN_USER_PASSWORD)")
	qrFile := fs.String("qr-file", "", "write the enrolment's QR code (PNG) to this file")
	a, err := interleaved(fs, rest)
	if err != nil {
		return 2
	}
	p := url.PathEscape
	switch {
	case verb == "list" && len(a) == 0:
		return c.call("GET", "/admin/users", nil)
	case verb == "get" && len(a) == 1:
		return c.call("GET", "/admin/users/"+p(a[0]), nil)
	case verb == "delete" && len(a) == 1:
		return c.call("DELETE", "/admin/users/"+p(a[0]), nil)
	case verb == "create" && len(a) == 1:
		pw, err := userPassword(*pwFile)
		if err != nil {
			return fail(err.Error())
		}
		if *role == "" {
			return fail("--role is required")
		}
		return c.enrolment("POST", "/admin/users", map[string]any{"name": a[0], "role": *role, "password": pw}, *qrFile)
	case verb == "set" && len(a) == 1:
		if *role == "" {
			return fail("--role is required")
		}
		body := map[string]any{"role": *role}
		if *pwFile != "" || os.Getenv("PORTCULLIS_ADMIN_USER_PASSWORD") != "" {
			pw, err := userPassword(*pwFile)
			if err != nil {
				return fail(err.Error())
			}
			body["password"] = pw
		}
		return c.call("PUT", "/admin/users/"+p(a[0]), body)
	case verb == "enrol" && len(a) == 1:
		return c.enrolment("POST", "/admin/users/"+p(a[0])+"/totp", nil, *qrFile)
	}
	return fail("unknown command or wrong arguments: users " + verb + " " + strings.Join(rest, " "))
}

func userPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file) // #nosec G304 -- the operator names the file
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if v := os.Getenv("PORTCULLIS_ADMIN_USER_PASSWORD"); v != "" {
		return v, nil
	}
	return "", errors.New("the password comes from $PORTCULLIS_ADMIN_USER_PASSWORD or --password-file")
}

// enrolment makes the call and, with qrFile, writes the QR code there and
// leaves it out of what is printed.
func (c *adminClient) enrolment(method, path string, body any, qrFile string) int {
	var out bytes.Buffer
	stdout := c.stdout
	c.stdout = &out
	code := c.call(method, path, body)
	c.stdout = stdout
	if code != 0 {
		return code
	}
	if qrFile == "" {
		_, _ = stdout.Write(out.Bytes())
		return 0
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		fmt.Fprintf(c.stderr, "portcullis admin: the answer is not JSON: %v\n", err)
		return 1
	}
	enr := doc
	if e, ok := doc["enrolment"].(map[string]any); ok {
		enr = e
	}
	var png []byte
	if s, ok := enr["qr_png"].(string); ok {
		_ = json.Unmarshal([]byte(`"`+s+`"`), &png) // base64, as encoding/json writes []byte
	}
	if len(png) == 0 {
		fmt.Fprintln(c.stderr, "portcullis admin: the answer has no QR code")
		return 1
	}
	if err := os.WriteFile(qrFile, png, 0o600); err != nil {
		fmt.Fprintf(c.stderr, "portcullis admin: %v\n", err)
		return 1
	}
	delete(enr, "qr_png")
	b, _ := json.MarshalIndent(doc, "", "  ")
	_, _ = stdout.Write(append(b, '\n'))
	return 0
}
