package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/upstream"
)

// A config file is applied only when it is complete. A file is complete
// when the writer says so: it renames a fully written file over the old
// one (atomic replacement), or it sends SIGHUP. Watching the content for
// writes cannot know that: a file written in two steps (a deploy tool's
// two writes, an editor saving in place, a copy over a slow disk) is, in
// between, a shorter file that may well be valid YAML and a valid config,
// minus what came last (an /admin/ restriction, say). Serving that even
// for a moment opens what the full file closes. So by default the watcher
// reloads only when the path names a different file (a rename or a
// symlink swap, as Kubernetes does with ConfigMaps) and that file was not
// written under the config's own name, and says in the log that an
// in-place change was not applied. Whatever triggers a reload, a file that
// grew while it was read is never applied (errStillWriting).
//
// Watch modes (`portcullis run --watch`):
const (
	// WatchReplace (default): reload when the path names a new file.
	WatchReplace = "replace"
	// WatchContent: also reload when the file is written in place, once no
	// write has come for contentSettle. A writer that pauses longer than
	// that in the middle of the file can still have its first part
	// applied: use it only with writers that write in one go.
	WatchContent = "content"
	// WatchOff: reload only on SIGHUP (and the admin API).
	WatchOff = "off"
)

// contentSettle is how long WatchContent waits after the last write.
const contentSettle = time.Second

// replaceSettle coalesces the events of one replacement (an editor's
// temporary file, rename, chmod) into one check.
const replaceSettle = 50 * time.Millisecond

// errStillWriting: the file grew while it was loaded, and what was loaded
// is its beginning. It is not applied: the rest is on its way.
var errStillWriting = errors.New("the config file grew while it was read (it is still being written): not applied; replace it atomically (write a new file, then rename it over the old one)")

// readConfigFile reads the config file and returns its bytes and what it
// was (for recognising a replacement later). The stat comes first: if the
// path is replaced between the two, the next check sees a new file again
// and reloads once more, which is harmless.
func readConfigFile(path string) ([]byte, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the config file
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return data, fi, nil
}

// loadConfigFile reads and parses the config file.
func loadConfigFile(path string) (*config.Config, []byte, os.FileInfo, error) {
	data, fi, err := readConfigFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := parseConfig(path, data)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, data, fi, nil
}

// parseConfig parses a config file's bytes. When the file has errors, the
// policies and credentials of what did decode are compiled anyway and
// their errors added (except those below a field already in error): one
// run of validate, one failed start or reload lists every problem.
func parseConfig(path string, data []byte) (*config.Config, error) {
	cfg, err := config.ParseAll(path, data)
	if err == nil {
		return cfg, nil
	}
	var es config.Errors
	if cfg == nil || !errors.As(err, &es) {
		return nil, err
	}
	return nil, es.WithMore(compileErrors(cfg))
}

// compileErrors compiles a config that failed validation, for its policy
// and credential errors only. Such a config may break what compiling
// relies on (a reference validation refused); if compiling it panics,
// nothing is added: the config's own errors are listed, and the next run,
// with them fixed, compiles normally.
func compileErrors(cfg *config.Config) (out config.Errors) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	reg := upstream.NewRegistry()
	defer reg.Close()
	_, err := Compile(cfg, reg)
	errors.As(err, &out)
	return out
}

// changedSince reports whether the file at path now holds something other
// than loaded: errStillWriting when loaded is a strict prefix of it (the
// file is being written and only its beginning was read), changed when it
// was replaced or rewritten otherwise.
func changedSince(path string, loaded []byte) (changed bool, err error) {
	now, err := os.ReadFile(path) // #nosec G304 -- the operator names the config file
	if err != nil {
		return true, nil // gone meanwhile: what was loaded is not what is there
	}
	if bytes.Equal(now, loaded) {
		return false, nil
	}
	if len(now) > len(loaded) && bytes.HasPrefix(now, loaded) {
		return true, errStillWriting
	}
	return true, nil
}

// reloadStatus is what /readyz says about reloads beyond the counters:
// why the last one failed, when it did (the old config still serves).
type reloadStatus struct {
	mu      sync.Mutex
	lastErr string
	lastAt  time.Time
}

// set records the outcome of a reload: its error, or nil for a success,
// which clears it.
func (r *reloadStatus) set(err error) {
	r.mu.Lock()
	r.lastErr, r.lastAt = "", time.Time{}
	if err != nil {
		r.lastErr, r.lastAt = err.Error(), time.Now().UTC()
	}
	r.mu.Unlock()
}

// view is the error of the last reload when it failed, or nil.
func (r *reloadStatus) view() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastErr == "" {
		return nil
	}
	return map[string]any{"error": r.lastErr, "time": r.lastAt.Format(time.RFC3339)}
}

// watchConfig reports when the config file should be reloaded, following
// mode. It watches the directory of the path (and of the file it links to,
// when it is a symlink), because replacements happen there.
func (g *Gateway) watchConfig(ctx context.Context, mode string) <-chan struct{} {
	out := make(chan struct{}, 1)
	if mode == WatchOff {
		g.log.Info("config file not watched; reload with SIGHUP", "config", g.opts.ConfigPath)
		return out
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		g.log.Warn("config file watching unavailable; reload with SIGHUP", "error", err)
		return out
	}
	abs, _ := filepath.Abs(g.opts.ConfigPath)
	dirs := []string{filepath.Dir(abs)}
	if real, err := filepath.EvalSymlinks(abs); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			g.log.Warn("config file watching unavailable; reload with SIGHUP", "error", err)
			_ = w.Close()
			return out
		}
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		inPlace := false // a write to the file itself since the last check
		arm := func(d time.Duration) {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			fire = timer.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Chmod {
					continue
				}
				self := filepath.Clean(ev.Name) == abs
				if self && ev.Op.Has(fsnotify.Write) {
					inPlace = true
					if mode == WatchContent {
						arm(contentSettle) // until the writes stop
						continue
					}
				}
				if fire == nil {
					arm(replaceSettle)
				}
			case <-fire:
				fire = nil
				fi, replaced := g.fileReplaced()
				switch {
				case mode == WatchContent && (replaced || inPlace), replaced && !inPlace:
					select {
					case out <- struct{}{}:
					default:
					}
				case inPlace:
					// Written under its own name (in place, or created and
					// then written): nothing says it is complete.
					if fi != nil {
						g.setSeen(fi)
					}
					g.log.Warn("config file changed in place; not reloaded: replace it atomically (write a new file, then rename it over the old one) or send SIGHUP",
						"event", "config_changed_in_place", "config", g.opts.ConfigPath)
				}
				inPlace = false
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				g.log.Warn("config watcher", "error", err)
			}
		}
	}()
	return out
}

// fileReplaced reports whether the config path now names a different file
// from the one last read (a rename over it, a symlink swap), and what it
// names (nil when nothing).
func (g *Gateway) fileReplaced() (os.FileInfo, bool) {
	fi, err := os.Stat(g.opts.ConfigPath)
	if err != nil {
		return nil, false // removed: nothing to load; the next file to appear is a change
	}
	g.seenMu.Lock()
	defer g.seenMu.Unlock()
	return fi, g.seen == nil || !sameFile(g.seen, fi)
}

// sameFile reports whether a and b are one file, unchanged. An inode
// number alone is not enough: the number of a replaced file is free for
// the next one, so two quick replacements can bring it back.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// setSeen records the file last read.
func (g *Gateway) setSeen(fi os.FileInfo) {
	g.seenMu.Lock()
	g.seen = fi
	g.seenMu.Unlock()
}
