package dicom

import (
	"encoding/json"
	"fmt"
	"testing"
)

func BenchmarkDecodeInstances(b *testing.B) {
	data := readFile(b, "testdata/ct-instances.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(src, data, received); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStudy decodes the WADO-RS metadata of one CT study of 4
// series and 500 instances, each with a BulkDataURI for its pixel data.
func BenchmarkDecodeStudy(b *testing.B) {
	attr := func(vr string, v ...any) map[string]any { return map[string]any{"vr": vr, "Value": v} }
	var list []any
	for i := range 500 {
		s := i % 4
		list = append(list, map[string]any{
			"0020000D": attr("UI", "1.2.840.99.1"),
			"0020000E": attr("UI", fmt.Sprintf("1.2.840.99.1.%d", s)),
			"00080018": attr("UI", fmt.Sprintf("1.2.840.99.1.%d.%d", s, i)),
			"00080016": attr("UI", "1.2.840.10008.5.1.4.1.1.2"),
			"00080060": attr("CS", "CT"),
			"00080020": attr("DA", "20240301"),
			"00080030": attr("TM", "101010"),
			"00100020": attr("LO", "MRN-1"),
			"00100010": map[string]any{"vr": "PN", "Value": []any{map[string]any{"Alphabetic": "Doe^Jane"}}},
			"00200011": attr("IS", s+1),
			"00200013": attr("IS", i+1),
			"00280010": attr("US", 512),
			"00280011": attr("US", 512),
			"7FE00010": map[string]any{"vr": "OW", "BulkDataURI": fmt.Sprintf("http://pacs/bulk/%d", i)},
		})
	}
	data, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(src, data, received); err != nil {
			b.Fatal(err)
		}
	}
}
