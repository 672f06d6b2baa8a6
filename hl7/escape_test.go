package hl7

import "testing"

func TestUnescape(t *testing.T) {
	std := Delimiters{'|', '^', '~', '\\', '&', '#'}
	old := Delimiters{'|', '^', '~', '\\', '&', 0} // before 2.7: no truncation character
	custom := Delimiters{'!', '@', '#', '$', '%', 0}
	tests := []struct {
		name string
		d    Delimiters
		in   string
		want string
	}{
		{"plain", std, "plain text", "plain text"},
		{"field", std, `a\F\b`, "a|b"},
		{"component", std, `a\S\b`, "a^b"},
		{"subcomponent", std, `Smith \T\ Sons`, "Smith & Sons"},
		{"repetition", std, `a\R\b`, "a~b"},
		{"escape", std, `C:\E\temp`, `C:\temp`},
		{"truncation", std, `a\P\b`, "a#b"},
		{"truncation absent before 2.7", old, `a\P\b`, `a\P\b`},
		{"all in a row", std, `\F\\S\\T\\R\\E\`, `|^&~\`},
		{"hex", std, `\X41424344\`, "ABCD"},
		{"hex lower case", std, `\X6869\`, "hi"},
		{"hex utf-8", std, `caf\XC3A9\`, "café"},
		{"hex odd length kept", std, `\X414\`, `\X414\`},
		{"hex invalid kept", std, `\XZZ\`, `\XZZ\`},
		{"line break", std, `one\.br\two`, "one\ntwo"},
		{"space", std, `one\.sp\two`, "one\ntwo"},
		{"space n", std, `one\.sp3\two`, "one\n\n\ntwo"},
		{"space capped", std, `a\.sp9999\b`, "a\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nb"},
		{"center", std, `a\.ce\b`, "a\nb"},
		{"fill dropped", std, `a\.fi\b\.nf\c`, "abc"},
		{"indent dropped", std, `a\.in+4\b\.ti-2\c\.sk3\d`, "abcd"},
		{"bad indent kept", std, `a\.inx\b`, `a\.inx\b`},
		{"highlight dropped", std, `\H\bold\N\ normal`, "bold normal"},
		{"local escape kept", std, `\Zabc\`, `\Zabc\`},
		{"charset kept", std, `\C2842\x`, `\C2842\x`},
		{"unknown kept", std, `a\Q\b`, `a\Q\b`},
		{"unterminated kept", std, `a\F`, `a\F`},
		{"lone escape", std, `a\b`, `a\b`},
		{"empty sequence", std, `a\\b`, `a\\b`},
		{"unknown then known", std, `\Q\F\`, `\Q\F\`},
		{"custom delimiters", custom, `x$F$y$S$z$T$w$R$v$E$`, "x!y@z%w#v$"},
		{"custom ignores backslash", custom, `a\F\b`, `a\F\b`},
		{"no escape character", Delimiters{Field: '|'}, `a\F\b`, `a\F\b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unescape(tt.in, tt.d); got != tt.want {
				t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnescapeOnRead(t *testing.T) {
	// Escapes are resolved after splitting: an escaped separator never splits.
	m := mustParse(t, "MSH|^~\\&|||||||ADT^A01|1|P|2.5\rNTE|1||A\\S\\B^C\\T\\D&E\\R\\F~G\\.br\\H\r")
	tests := []struct{ path, want string }{
		{"NTE-3.1", "A^B"},
		{"NTE-3.2", "C&D&E~F"}, // component text: subcomponent separator kept, escapes resolved
		{"NTE-3.2.1", "C&D"},
		{"NTE-3.2.2", "E~F"},
		{"NTE-3(2)", "G\nH"},
	}
	for _, tt := range tests {
		if got := m.Get(tt.path); got != tt.want {
			t.Errorf("Get(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if got := m.Segment("NTE").Field(3).Raw(); got != `A\S\B^C\T\D&E\R\F~G\.br\H` {
		t.Errorf("Raw = %q", got)
	}
}

func BenchmarkUnescape(b *testing.B) {
	d := Delimiters{'|', '^', '~', '\\', '&', 0}
	for _, in := range []string{"no escapes at all in this value", `Smith \T\ Sons\.br\line two`} {
		b.Run("", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = unescape(in, d)
			}
		})
	}
}
