package lab

import "syscall"

// supported reports whether the lab can run here: it can on Linux, which
// has the network and mount namespaces it is made of.
func supported() error { return nil }

// bindShared makes dir a recursive, shared self bind mount, as iproute2 does
// for /run/netns, so that namespaces mounted under it are seen everywhere.
func bindShared(dir string) error {
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	return syscall.Mount("", dir, "", syscall.MS_SHARED|syscall.MS_REC, "")
}

func unmount(dir string) error { return syscall.Unmount(dir, 0) }
