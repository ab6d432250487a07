package lab

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestDarwinPasswdAndGroups(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"root and its alias get /bin/sh", "root:x:0:0:root:/root:/bin/bash\nkim:x:0:0:lab stand-in for root:/root:/bin/sh\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n",
			"root:x:0:0:root:/root:/bin/sh\nkim:x:0:0:lab stand-in for root:/root:/bin/sh\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"},
		{"no newline at the end", "root:x:0:0:root:/root:/bin/bash", "root:x:0:0:root:/root:/bin/sh\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, string(darwinPasswd([]byte(tc.in))), tc.want)
		})
	}
	for _, tc := range []struct{ name, in, want string }{
		{"admin added", "root:x:0:\nwheel:x:0:root\n", "root:x:0:\nwheel:x:0:root\nadmin:x:80:root\n"},
		{"no newline at the end", "root:x:0:", "root:x:0:\nadmin:x:80:root\n"},
		{"admin kept", "root:x:0:\nadmin:x:1000:\n", "root:x:0:\nadmin:x:1000:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, string(darwinGroups([]byte(tc.in))), tc.want)
		})
	}
}
