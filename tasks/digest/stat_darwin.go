package digest

import "syscall"

// statTimes returns a stat result's mtime and ctime in nanoseconds (macOS
// names the fields Mtimespec and Ctimespec).
func statTimes(s *syscall.Stat_t) (mtime, ctime int64) {
	return s.Mtimespec.Nano(), s.Ctimespec.Nano()
}
