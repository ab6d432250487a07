package secrets

import "testing"

// BenchmarkUpdateKeysNoChange: secrets:updatekeys over every user's file
// when no recipient changed. files-written must be 0 (the test
// TestRulesEditUpdateKeysCheck asserts the bytes stay identical).
func BenchmarkUpdateKeysNoChange(b *testing.B) {
	s, _ := newStoreB(b)
	for _, u := range s.Fleet.UserNames() {
		if _, err := s.Edit(u, []string{"/bin/sh", "-c", `printf 'token: x\n' > "$0"`}); err != nil {
			b.Fatal(err)
		}
	}
	written := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		done, err := s.UpdateKeys()
		if err != nil {
			b.Fatal(err)
		}
		written += len(done)
	}
	b.ReportMetric(float64(written), "files-written")
}
