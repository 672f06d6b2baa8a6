package jsondepth

import (
	"strings"
	"testing"
)

func TestExceeds(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want bool
	}{
		{`{"a":[1,{"b":2}]}`, 3, false},
		{`{"a":[1,{"b":2}]}`, 2, true},
		{`{"a":"[[[[[[[["}`, 1, false}, // brackets inside strings do not count
		{`{"a":"\"[[["}`, 1, false},    // nor after an escaped quote
		{strings.Repeat("[", 100000), 64, true},
		{``, 1, false},
	} {
		if got := Exceeds([]byte(c.in), c.max); got != c.want {
			t.Errorf("Exceeds(%.20q, %d) = %v, want %v", c.in, c.max, got, c.want)
		}
	}
}
