package clickhouse_test

import (
	"fmt"
	"strings"

	"github.com/carecrest/hub/store/clickhouse"
)

// On a cluster, each table is a Replicated table on every node and a
// Distributed table over them, generated from the same migrations as the
// single-server schema.
func ExampleStatements() {
	stmts, err := clickhouse.Statements(clickhouse.Config{Database: "carecrest", Cluster: "hub_cluster"})
	if err != nil {
		panic(err)
	}
	for _, q := range stmts {
		if strings.HasPrefix(q, "CREATE TABLE IF NOT EXISTS carecrest.audit_chain") {
			first, _, _ := strings.Cut(q, "\n")
			fmt.Println(first)
			if i := strings.Index(q, "ENGINE ="); i >= 0 {
				engine, _, _ := strings.Cut(q[i:], "\n")
				fmt.Println(engine)
			}
		}
	}
	// Output:
	// CREATE TABLE IF NOT EXISTS carecrest.audit_chain_local ON CLUSTER hub_cluster (
	// ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/carecrest/audit_chain_local', '{replica}')
	// CREATE TABLE IF NOT EXISTS carecrest.audit_chain ON CLUSTER hub_cluster AS carecrest.audit_chain_local
	// ENGINE = Distributed(hub_cluster, carecrest, audit_chain_local, cityHash64(shard))
}
