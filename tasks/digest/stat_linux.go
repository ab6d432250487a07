package digest

import "syscall"

// statTimes returns a stat result's mtime and ctime in nanoseconds (Linux
// names the fields Mtim and Ctim).
func statTimes(s *syscall.Stat_t) (mtime, ctime int64) { return s.Mtim.Nano(), s.Ctim.Nano() }
