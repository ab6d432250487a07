package vars

import (
	"os"

	"golang.org/x/sys/unix"
)

// swapDir puts the directory tmp at dir. On Linux an existing dir is
// exchanged with tmp in one renameat2(RENAME_EXCHANGE), so there is no
// instant at which dir is missing; the old set, now at tmp, is removed.
func swapDir(tmp, dir string) error {
	if fresh, err := installFresh(tmp, dir); fresh || err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		// Some file systems lack RENAME_EXCHANGE.
		return swapDirRenames(tmp, dir)
	}
	return os.RemoveAll(tmp)
}
