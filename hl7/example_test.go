package hl7_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/carecrest/hub/hl7"
)

func ExampleParse() {
	msg := "MSH|^~\\&|LAB|NORTH|HUB|CC|20240101||ORU^R01|C-1|P|2.5.1\r" +
		"PID|1||M-7^^^North&1.2.3&ISO^MR||Example^Pat\r" +
		"OBX|1|ST|5778-6^Color^LN||Straw \\T\\ clear\r"
	m, err := hl7.Parse([]byte(msg), hl7.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Get("MSH-9.1"), m.Get("MSH-9.2"), m.Version())
	fmt.Println(m.Get("PID-3.4.2"))
	fmt.Println(m.Segment("OBX").Field(5).String())
	// Output:
	// ORU R01 2.5.1
	// 1.2.3
	// Straw & clear
}

func ExampleDecode() {
	msg := "MSH|^~\\&|REG|NORTH|HUB|CC|20240101||ADT^A04|C-2|P|2.5\r" +
		"PID|1||M-7^^^North&1.2.3&ISO^MR||Example^Pat||19800101|F\r"
	recs, err := hl7.Decode("ehr", []byte(msg), time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	r := recs[0]
	fmt.Println(r.Type, r.MessageID, r.Subject[0].System, r.Resource["gender"], r.Resource["birthDate"])

	_, err = hl7.Decode("ehr", []byte("MSH|^~\\&|S|N|H|C|20240101||VXU^V04|C-3|P|2.5\r"), time.Now())
	var de *hl7.DecodeError
	if errors.As(err, &de) {
		fmt.Println(de.Reason)
		fmt.Println(err)
	}
	// Output:
	// Patient C-2 urn:oid:1.2.3 female 1980-01-01
	// unsupported-type
	// hl7: unsupported-type: unsupported message type VXU^V04 (message 0, segment 0, field 9)
}
