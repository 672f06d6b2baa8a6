package hl7

import (
	"testing"
)

func BenchmarkDecodeORU(b *testing.B) {
	data := readFixture(b, "oru_r01.hl7")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode("lis", data, received); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeADT(b *testing.B) {
	data := readFixture(b, "adt_a01.hl7")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode("ehr", data, received); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data := readFixture(b, "oru_r01.hl7")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseAll(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
