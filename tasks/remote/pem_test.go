package remote

import (
	"encoding/pem"
	"io"
)

func pemEncode(w io.Writer, b *pem.Block) error { return pem.Encode(w, b) }
