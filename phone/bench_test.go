package phone

import (
	"fmt"
	"testing"
)

// BenchmarkNormalize measures the common case: valid national mobiles typed with spaces.
func BenchmarkNormalize(b *testing.B) {
	nums := make([]string, 1000)
	for i := range nums {
		nums[i] = fmt.Sprintf("31%d %03d %04d", i%10, i, i*7%10000)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Normalize(nums[i%1000], "CO"); err != nil {
			b.Fatal(err)
		}
	}
}
