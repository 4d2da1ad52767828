package transfer

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Scan returns the manifest Send would send for paths: each regular file under
// its base name, each folder recursively under its base name ("direkt send
// ~/photos" sends "photos/…"), with empty folders listed in Dirs.
//
// Symbolic links are never followed. Given directly in paths, a symbolic link,
// socket, device or pipe is an error (ErrUnsupportedFile); found inside a
// folder it is left out and listed in Manifest.Skipped, so that one stray link
// does not block a folder. An unreadable folder is an error.
//
// Names are sanitised as the receiver would (SanitizeName); a name that cannot
// be made safe is an error, and names that collide after sanitising (two files
// called "x" from different folders, "a:b" next to "a_b") are renamed
// "x (1)" as the receiver would.
func Scan(paths []string) (Manifest, error) {
	m, _, err := scan(paths)
	return m, err
}

// scan is Scan plus the source path of every file.
func scan(paths []string) (Manifest, []string, error) {
	if len(paths) == 0 {
		return Manifest{}, nil, fmt.Errorf("transfer: nothing to send")
	}
	var (
		m    Manifest
		srcs []string
		dirs []string
	)
	add := func(src, name string, size int64, mode fs.FileMode) error {
		clean, err := SanitizeName(name)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if len(m.Files)+len(dirs) >= maxEntries {
			return fmt.Errorf("%w: more than %d files and folders", ErrTooLarge, maxEntries)
		}
		if size > math.MaxInt64-m.Total {
			return fmt.Errorf("%w: total size overflows", ErrTooLarge)
		}
		m.Total += size
		m.Files = append(m.Files, File{Name: clean, Size: size, Mode: fileMode(mode&0o111 != 0)})
		srcs = append(srcs, src)
		return nil
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return Manifest{}, nil, fmt.Errorf("transfer: %w", err)
		}
		base := filepath.Base(abs)
		if base == string(filepath.Separator) || base == "." || strings.HasSuffix(base, ":") || base == "" {
			return Manifest{}, nil, fmt.Errorf("transfer: %s: cannot send a whole file system root", p)
		}
		fi, err := os.Lstat(abs)
		if err != nil {
			return Manifest{}, nil, fmt.Errorf("transfer: %w", err)
		}
		switch {
		case fi.Mode().IsRegular():
			if err := add(abs, base, fi.Size(), fi.Mode()); err != nil {
				return Manifest{}, nil, fmt.Errorf("transfer: %w", err)
			}
		case fi.IsDir():
			err := filepath.WalkDir(abs, func(src string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, err := filepath.Rel(filepath.Dir(abs), src)
				if err != nil {
					return err
				}
				name := filepath.ToSlash(rel)
				switch t := d.Type(); {
				case t.IsDir():
					clean, err := SanitizeName(name)
					if err != nil {
						return fmt.Errorf("%s: %w", src, err)
					}
					if len(m.Files)+len(dirs) >= maxEntries {
						return fmt.Errorf("%w: more than %d files and folders", ErrTooLarge, maxEntries)
					}
					dirs = append(dirs, clean)
					return nil
				case t.IsRegular():
					info, err := d.Info()
					if err != nil {
						return err
					}
					return add(src, name, info.Size(), info.Mode())
				default:
					m.Skipped = append(m.Skipped, src)
					return nil
				}
			})
			if err != nil {
				return Manifest{}, nil, fmt.Errorf("transfer: %w", err)
			}
		default:
			return Manifest{}, nil, fmt.Errorf("%w: %s (%s)", ErrUnsupportedFile, p, describeType(fi.Mode()))
		}
	}
	m.Dirs = emptyDirs(m.Files, dirs)
	m.Files, m.Dirs = uniqueNames(m.Files, m.Dirs)
	return m, srcs, nil
}

// emptyDirs keeps the folders that have neither a file nor another folder of
// the manifest below them; the others are created anyway as parents.
func emptyDirs(files []File, dirs []string) []string {
	parents := make(map[string]struct{})
	mark := func(p string) {
		for i := strings.LastIndexByte(p, '/'); i >= 0; i = strings.LastIndexByte(p, '/') {
			p = p[:i]
			parents[p] = struct{}{}
		}
	}
	for _, f := range files {
		mark(f.Name)
	}
	for _, d := range dirs {
		mark(d)
	}
	var out []string
	for _, d := range dirs {
		if _, ok := parents[d]; !ok {
			out = append(out, d)
		}
	}
	return out
}

func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link, not followed"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
