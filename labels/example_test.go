package labels_test

import (
	"fmt"

	"github.com/carecrest/hub/labels"
	"github.com/carecrest/hub/record"
)

func Example() {
	l, err := labels.New(labels.Default())
	if err != nil {
		panic(err)
	}
	recs := []record.Record{{
		Type: "Condition",
		Codes: []record.Coding{
			{System: labels.SystemICD10CM, Code: "F11.20"},  // opioid dependence
			{System: labels.SystemSNOMED, Code: "86406008"}, // HIV infection
		},
	}}
	l.Apply(recs)
	fmt.Println(recs[0].Labels)
	// Output: [ETH HIV]
}
