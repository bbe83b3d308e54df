package config

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Secret references: a whole string value of the form ${env:NAME} or
// ${file:/path} is replaced by the variable's value or the file's content
// (minus one trailing newline). Any other value that starts with "${" and
// ends with "}" is an error rather than a literal, so that a mistyped
// reference (${ENV:X}) never silently becomes a password. A value that
// really starts with "${" is written with "$${": the first "$" is dropped.
//
// ${store:NAME} names a secret kept sealed in the admin store (created
// through /admin/secrets). It is allowed only where the store can supply it
// (webhook secrets; storeSecretPaths), needs an admin block, and is
// resolved each time the gateway compiles the config with the store's
// state (WithStoreSecrets): until then the field holds the reference text.

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
	case "store":
		if !ValidName(arg) {
			return ref, "", true, fmt.Errorf("invalid secret reference %s: the secret name %s", ref, NameRule())
		}
		return ref, ref, true, nil
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
	return ref, "", true, fmt.Errorf("unknown secret reference %s (use ${env:NAME}, ${file:/path} or ${store:NAME}; write $${ for a literal ${)", ref)
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

// storeRefName is NAME when ref is ${store:NAME}.
func storeRefName(ref string) (string, bool) {
	name, ok := strings.CutPrefix(ref, "${store:")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(name, "}"), true
}

// storeSecretPaths are the fields a ${store:NAME} may fill: the secrets
// that key webhook signatures, which an operator rotates through the admin
// API without editing the file.
var storeSecretPaths = []*regexp.Regexp{
	regexp.MustCompile(`^observability\.security_events\.webhooks\[(\d+)\]\.secret$`),
	regexp.MustCompile(`^intrusion_detection\.alerts\.webhooks\[(\d+)\]\.secret$`),
}

// storeRefs checks where ${store:NAME} references are used.
func (v *validator) storeRefs() {
	if v.c.meta == nil {
		return
	}
	for path, name := range v.c.meta.storeRefs {
		allowed := false
		for _, re := range storeSecretPaths {
			allowed = allowed || re.MatchString(path)
		}
		switch {
		case !allowed:
			v.add(path, "${store:%s}: a store secret can only be a webhook secret (observability.security_events.webhooks[].secret, intrusion_detection.alerts.webhooks[].secret)", name)
		case v.c.Admin == nil:
			v.add(path, "${store:%s} needs the admin block: the secret is kept in its store", name)
		}
	}
}

// StoreSecretRefs maps each secret name the config references with
// ${store:NAME} to the field paths that use it.
func (c *Config) StoreSecretRefs() map[string][]string {
	out := map[string][]string{}
	if c.meta == nil {
		return out
	}
	for path, name := range c.meta.storeRefs {
		out[name] = append(out[name], path)
	}
	for _, paths := range out {
		sort.Strings(paths)
	}
	return out
}

// WithStoreSecrets returns a copy of c whose ${store:NAME} fields hold the
// named secrets' values; get looks a name up in the store's state. c is
// not changed. A name the store does not hold is an error at the field.
func (c *Config) WithStoreSecrets(get func(name string) ([]byte, bool)) (*Config, error) {
	if c.meta == nil || len(c.meta.storeRefs) == 0 {
		return c, nil
	}
	m := *c
	ev := &m.Observability.SecurityEvents
	ev.Webhooks = append([]AlertWebhook(nil), ev.Webhooks...)
	if id := m.IntrusionDetection; id != nil && id.Alerts != nil {
		idc, al := *id, *id.Alerts
		al.Webhooks = append([]AlertWebhook(nil), al.Webhooks...)
		idc.Alerts = &al
		m.IntrusionDetection = &idc
	}
	var errs Errors
	for path, name := range c.meta.storeRefs {
		var hooks []AlertWebhook
		var sub []string
		if sub = storeSecretPaths[0].FindStringSubmatch(path); sub != nil {
			hooks = ev.Webhooks
		} else if sub = storeSecretPaths[1].FindStringSubmatch(path); sub != nil && m.IntrusionDetection != nil && m.IntrusionDetection.Alerts != nil {
			hooks = m.IntrusionDetection.Alerts.Webhooks
		}
		i, err := strconv.Atoi(valueOr(sub, 1))
		if err != nil || i >= len(hooks) {
			errs = append(errs, c.ErrorAtPath(path, "${store:"+name+"} is not in a webhook secret"))
			continue
		}
		val, ok := get(name)
		if !ok {
			errs = append(errs, c.ErrorAtPath(path, "${store:"+name+"}: the store has no secret "+strconv.Quote(name)+" (create it with portcullis admin secrets create "+name+")"))
			continue
		}
		hooks[i].Secret = string(val)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &m, nil
}

func valueOr(sub []string, i int) string {
	if i < len(sub) {
		return sub[i]
	}
	return ""
}
