package nettest

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

// TestSilentNeverSpeaks: a client connects and reads nothing until its
// deadline.
func TestSilentNeverSpeaks(t *testing.T) {
	c, err := net.DialTCP("tcp", nil, Silent(t))
	assert.NilError(t, err)
	defer c.Close()
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	n, err := c.Read(make([]byte, 1))
	assert.Equal(t, n, 0)
	assert.Assert(t, errors.Is(err, os.ErrDeadlineExceeded), "read: %v", err)
}
