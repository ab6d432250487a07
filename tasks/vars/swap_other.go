//go:build !linux

package vars

// swapDir puts the directory tmp at dir with two renames; see
// swapDirRenames for how an interruption is recovered.
func swapDir(tmp, dir string) error { return swapDirRenames(tmp, dir) }
