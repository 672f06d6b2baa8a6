package hl7

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds seeds a fuzz target with the fixtures and a few edge cases.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.hl7")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "MSH", "MSH|", "MSH|^~\\&", "MSH|^~\\&#|", "\ufeffMSH|^~\\&|\r\n\r\n",
		"MSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|1||\\X41\\^^^A&1.2&ISO\rPV1\r",
		"MSH|^~\\&|||||||ORU^R01|1|P|2.5\rPID|1||X\rOBR|1\rOBX|1|SN|C||<^1^-^2|u|1-2|H~L\rNTE|1||\\.sp5\\",
		"FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|0\r",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks that ParseAll never panics, fails only with a
// *DecodeError, and that every accessor stays inside the input.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := ParseAll(data, Limits{MaxSegments: 200, MaxFields: 100, MaxRepetitions: 50})
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || msgs != nil {
				t.Fatalf("error %T %v with %d messages", err, err, len(msgs))
			}
			_ = de.Error()
			return
		}
		if len(msgs) == 0 {
			t.Fatal("no message and no error")
		}
		for _, m := range msgs {
			if m.Header().Name() != "MSH" || !strings.HasPrefix(m.Text(), "MSH") {
				t.Fatal("message does not start with MSH")
			}
			_, _, _ = m.Type()
			_ = m.ControlID() + m.Version() + m.Get("PID-3(2).4.2") + m.Get("OBX(2)-5.1")
			for _, s := range m.All() {
				if len(s.Name()) != 3 || !strings.Contains(m.Text(), s.Raw()) {
					t.Fatalf("segment %q not in message", s.Name())
				}
				checkFieldSplit(t, s)
				for n := 0; n <= s.NumFields()+1; n++ {
					fld := s.Field(n)
					if !strings.Contains(s.Raw(), fld.Raw()) {
						t.Fatalf("field %d not in segment", n)
					}
					_ = fld.String()
					for r := 1; r <= min(fld.NumReps(), 3)+1; r++ {
						rep := fld.Rep(r)
						for c := 1; c <= min(rep.NumComps(), 4)+1; c++ {
							comp := rep.Comp(c)
							_ = comp.String()
							for k := 1; k <= min(comp.NumSubs(), 3)+1; k++ {
								_ = comp.Sub(k)
							}
						}
					}
				}
			}
		}
	})
}

// FuzzDecode checks that Decode never panics, fails only with a
// *DecodeError, and that every record it returns is well formed.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode("fuzz", data, received)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalid) || recs != nil {
				t.Fatalf("error %T %v with %d records", err, err, len(recs))
			}
			return
		}
		for i, r := range recs {
			if r.ID == "" || r.Key == "" || r.MessageID == "" || len(r.Subject) == 0 || r.Resource["resourceType"] != r.Type {
				t.Fatalf("record %d malformed: %+v", i, r)
			}
			for _, k := range []string{"id", "subject", "patient"} {
				if _, ok := r.Resource[k]; ok {
					t.Fatalf("record %d sets %q", i, k)
				}
			}
			if _, err := json.Marshal(r.Resource); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	})
}
