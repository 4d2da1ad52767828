package consult

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Folders under Config.DataDir.
const (
	dirFiles   = "files"   // received documents
	dirRecords = "records" // record copies a client received
	dirSpool   = "spool"   // files being sent, removed when the consultation ends

	tempPrefix = ".direkt-"
	tempSuffix = ".part"

	// maxConflicts bounds the search for a free "name (k).ext".
	maxConflicts = 10000
	// maxExt is the longest extension kept when a name is cut to fit.
	maxExt = 32
)

// store is the consultation's data folder, every access confined to it by
// os.Root.
type store struct {
	dir  string
	root *os.Root
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("consult: data folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("consult: data folder: %w", err)
	}
	for _, sub := range []string{dirFiles, dirRecords, dirSpool} {
		if err := root.MkdirAll(sub, 0o700); err != nil {
			root.Close()
			return nil, fmt.Errorf("consult: data folder: %w", err)
		}
	}
	return &store{dir: dir, root: root}, nil
}

func (st *store) close() { st.root.Close() }

// abs is the operating-system path of rel (slash-separated, inside dir).
func (st *store) abs(rel string) string { return filepath.Join(st.dir, filepath.FromSlash(rel)) }

// createTemp creates a new, empty temporary file in sub and returns it with
// its slash-separated path relative to the data folder.
func (st *store) createTemp(sub string) (*os.File, string, error) {
	for range 10 {
		var b [12]byte
		_, _ = rand.Read(b[:])
		rel := path.Join(sub, tempPrefix+hex.EncodeToString(b[:])+tempSuffix)
		f, err := st.root.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("consult: create a temporary file: %w", err)
		}
		return f, rel, nil
	}
	return nil, "", errors.New("consult: create a temporary file: no free name")
}

// remove deletes rel, ignoring a file that is already gone.
func (st *store) remove(rel string) {
	if rel == "" {
		return
	}
	_ = st.root.Remove(rel)
}

// place moves the finished temporary file tmp to sub/name, or to the first
// free "name (k).ext", and returns the path it took. A hard link fails when
// the name exists, which makes the check and the move one atomic step, so
// nothing is ever overwritten; where the file system has no hard links it
// falls back to a check and a rename.
func (st *store) place(tmp, sub, name string) (string, error) {
	noLinks := false
	for k := range maxConflicts {
		target := path.Join(sub, conflictName(name, k))
		if !noLinks {
			err := st.root.Link(tmp, target)
			if err == nil {
				st.remove(tmp)
				st.syncDir(sub)
				return target, nil
			}
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, fs.ErrPermission) {
				return "", fmt.Errorf("consult: store a file: %w", err)
			}
			noLinks = true
		}
		if _, err := st.root.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := st.root.Rename(tmp, target); err != nil {
			return "", fmt.Errorf("consult: store a file: %w", err)
		}
		st.syncDir(sub)
		return target, nil
	}
	return "", errors.New("consult: store a file: no free name")
}

// syncDir makes a new name in sub durable (best effort: not every platform
// syncs folders).
func (st *store) syncDir(sub string) {
	if d, err := st.root.Open(sub); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// conflictName is name for k = 0 and "stem (k).ext" after, cut on a UTF-8
// boundary to stay within MaxFileName bytes. name is already sanitised; the
// result stays safe (it ends in the extension or ")").
func conflictName(name string, k int) string {
	if k == 0 {
		return name
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= maxExt {
		stem, ext = name[:i], name[i:]
	}
	suffix := " (" + strconv.Itoa(k) + ")" + ext
	if room := MaxFileName - len(suffix); len(stem) > room {
		stem = truncateUTF8(stem, max(room, 0))
	}
	return stem + suffix
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
