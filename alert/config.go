package alert

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config configures the alert engine, its rules and sinks.
type Config struct {
	// Enabled turns the engine on (default false: alerts need a roster and
	// a decision about where they go).
	Enabled bool `yaml:"enabled"`
	// TimeZone is where usual hours and daily volumes are counted (IANA
	// name, default UTC).
	TimeZone string `yaml:"time_zone"`
	// Roster is the workforce (inline); RosterFile loads more from a YAML
	// file holding a list of the same entries.
	Roster     []Staff       `yaml:"roster"`
	RosterFile string        `yaml:"roster_file"`
	Rules      RuleConfig    `yaml:"rules"`
	Poll       PollConfig    `yaml:"poll"`
	Webhook    WebhookConfig `yaml:"webhook"`
	Kafka      KafkaConfig   `yaml:"kafka"`
	// Feed is the in-process queue of audit events between the hub's
	// appender and the engine (default 10000); when full, events are left
	// to the poller.
	Feed int `yaml:"feed"`
}

// Staff is one workforce roster entry. Surname and address are workforce
// data compared only through Demographics; they never appear in alerts.
type Staff struct {
	ID         string   `yaml:"id"`
	Roles      []string `yaml:"roles"`
	Surname    string   `yaml:"surname"`
	Address    string   `yaml:"address"`     // first line of the home address
	PostalCode string   `yaml:"postal_code"` // of the home address
	// Practitioner is the member's practitioner key as the patient index
	// learns care relationships (e.g. an NPI as system|value); default ID.
	Practitioner string `yaml:"practitioner"`
	// OwnMRN is the member's own patient identifier (system|value), if any.
	OwnMRN string `yaml:"own_mrn"`
	// UsualHours are local hours [start, end); start > end wraps midnight
	// (a night shift is [19, 7]). Both zero: unknown, not checked.
	UsualHours [2]int `yaml:"usual_hours"`
}

// Toggle enables a rule; nil means the default (on).
type Toggle struct {
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the rule is enabled.
func (t Toggle) On() bool { return t.Enabled == nil || *t.Enabled }

// RuleConfig configures each rule.
type RuleConfig struct {
	BreakGlass Toggle `yaml:"break_glass"`
	VIPAccess  struct {
		Toggle   `yaml:",inline"`
		Patients []string `yaml:"patients"` // flagged enterprise ids
		// ExemptCareTeam: users with a treatment relationship do not alert
		// (default true).
		ExemptCareTeam *bool `yaml:"exempt_care_team"`
	} `yaml:"vip_access"`
	OwnRecord          Toggle `yaml:"own_record"`
	SharedDemographics Toggle `yaml:"shared_demographics"`
	NoRelationship     struct {
		Toggle   `yaml:",inline"`
		Roles    []string `yaml:"roles"`    // default physician, nurse
		Purposes []string `yaml:"purposes"` // default TREAT
	} `yaml:"no_relationship"`
	OffHours struct {
		Toggle `yaml:",inline"`
		Grace  time.Duration `yaml:"grace"` // default 30m
	} `yaml:"off_hours"`
	VolumeSpike struct {
		Toggle          `yaml:",inline"`
		Factor          float64 `yaml:"factor"`            // default 3: more than 3× the median
		MinPatients     int     `yaml:"min_patients"`      // default 60 distinct patients a day
		BaselineDays    int     `yaml:"baseline_days"`     // default 14
		MinBaselineDays int     `yaml:"min_baseline_days"` // default 5 active days
	} `yaml:"volume_spike"`
	RepeatedDenials struct {
		Toggle `yaml:",inline"`
		Count  int           `yaml:"count"`  // default 5
		Window time.Duration `yaml:"window"` // default 10m
	} `yaml:"repeated_denials"`
	BulkExport struct {
		Toggle   `yaml:",inline"`
		Patients int           `yaml:"patients"` // default 40 distinct patients
		Window   time.Duration `yaml:"window"`   // default 15m
	} `yaml:"bulk_export"`
}

// PollConfig configures the audit-log tail.
type PollConfig struct {
	Enabled  *bool         `yaml:"enabled"`  // default true
	Interval time.Duration `yaml:"interval"` // default 500ms
	// Overlap re-reads this much of the log behind the cursor, for events
	// other instances commit late (default 5s); seen events are skipped.
	Overlap time.Duration `yaml:"overlap"`
	// Backfill is how far back the first poll starts (default 1h).
	Backfill time.Duration `yaml:"backfill"`
}

// WebhookConfig configures the HTTP webhook sink.
type WebhookConfig struct {
	URL string `yaml:"url"` // empty: no webhook
	// SecretFile holds the HMAC-SHA256 signing secret.
	SecretFile  string        `yaml:"secret_file"`
	Timeout     time.Duration `yaml:"timeout"`      // default 5s
	MaxAttempts int           `yaml:"max_attempts"` // default 8
	Queue       int           `yaml:"queue"`        // default 1000
}

// KafkaConfig configures the Kafka sink (the hub's own brokers).
type KafkaConfig struct {
	Topic string `yaml:"topic"` // empty: no Kafka sink; e.g. hub.alerts
	Queue int    `yaml:"queue"` // default 1000
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.Feed == 0 {
		c.Feed = 10_000
	}
	r := &c.Rules
	if len(r.NoRelationship.Roles) == 0 {
		r.NoRelationship.Roles = []string{"physician", "nurse"}
	}
	if len(r.NoRelationship.Purposes) == 0 {
		r.NoRelationship.Purposes = []string{"TREAT"}
	}
	if r.OffHours.Grace == 0 {
		r.OffHours.Grace = 30 * time.Minute
	}
	v := &r.VolumeSpike
	if v.Factor == 0 {
		v.Factor = 3
	}
	if v.MinPatients == 0 {
		v.MinPatients = 60
	}
	if v.BaselineDays == 0 {
		v.BaselineDays = 14
	}
	if v.MinBaselineDays == 0 {
		v.MinBaselineDays = 5
	}
	if r.RepeatedDenials.Count == 0 {
		r.RepeatedDenials.Count = 5
	}
	if r.RepeatedDenials.Window == 0 {
		r.RepeatedDenials.Window = 10 * time.Minute
	}
	if r.BulkExport.Patients == 0 {
		r.BulkExport.Patients = 40
	}
	if r.BulkExport.Window == 0 {
		r.BulkExport.Window = 15 * time.Minute
	}
	if c.Poll.Interval == 0 {
		c.Poll.Interval = 500 * time.Millisecond
	}
	if c.Poll.Overlap == 0 {
		c.Poll.Overlap = 5 * time.Second
	}
	if c.Poll.Backfill == 0 {
		c.Poll.Backfill = time.Hour
	}
	if c.Webhook.Timeout == 0 {
		c.Webhook.Timeout = 5 * time.Second
	}
	if c.Webhook.MaxAttempts == 0 {
		c.Webhook.MaxAttempts = 8
	}
	if c.Webhook.Queue == 0 {
		c.Webhook.Queue = 1000
	}
	if c.Kafka.Queue == 0 {
		c.Kafka.Queue = 1000
	}
}

// PollOn reports whether the poller runs.
func (p PollConfig) PollOn() bool { return p.Enabled == nil || *p.Enabled }

// Validate reports every configuration error it finds.
func (c Config) Validate() error {
	var errs []error
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("alerts.time_zone: %w", err))
	}
	ids := map[string]bool{}
	for i, s := range c.Roster {
		if s.ID == "" {
			errs = append(errs, fmt.Errorf("alerts.roster[%d]: id is required", i))
		}
		if ids[s.ID] {
			errs = append(errs, fmt.Errorf("alerts.roster[%d]: id %s listed twice", i, s.ID))
		}
		ids[s.ID] = true
		for _, h := range s.UsualHours {
			if h < 0 || h > 24 {
				errs = append(errs, fmt.Errorf("alerts.roster[%d]: usual_hours must be hours 0-24", i))
			}
		}
		if s.OwnMRN != "" && !strings.Contains(s.OwnMRN, "|") {
			errs = append(errs, fmt.Errorf("alerts.roster[%d]: own_mrn must be system|value", i))
		}
	}
	for _, p := range c.Rules.VIPAccess.Patients {
		if !strings.HasPrefix(p, "P") {
			errs = append(errs, fmt.Errorf("alerts.rules.vip_access.patients: %q is not an enterprise id (P...)", p))
		}
	}
	r := c.Rules
	pos := func(name string, ok bool) {
		if !ok {
			errs = append(errs, fmt.Errorf("alerts.rules.%s must be positive", name))
		}
	}
	pos("off_hours.grace", r.OffHours.Grace >= 0)
	pos("volume_spike.factor", r.VolumeSpike.Factor > 0)
	pos("volume_spike.min_patients", r.VolumeSpike.MinPatients > 0)
	pos("volume_spike.baseline_days", r.VolumeSpike.BaselineDays > 0)
	pos("volume_spike.min_baseline_days", r.VolumeSpike.MinBaselineDays > 0 && r.VolumeSpike.MinBaselineDays <= r.VolumeSpike.BaselineDays)
	pos("repeated_denials.count", r.RepeatedDenials.Count > 1)
	pos("repeated_denials.window", r.RepeatedDenials.Window > 0)
	pos("bulk_export.patients", r.BulkExport.Patients > 1)
	pos("bulk_export.window", r.BulkExport.Window > 0)
	pos("poll.interval", c.Poll.Interval > 0)
	pos("poll.overlap", c.Poll.Overlap >= 0)
	if c.Webhook.URL != "" {
		if !strings.HasPrefix(c.Webhook.URL, "https://") && !strings.HasPrefix(c.Webhook.URL, "http://") {
			errs = append(errs, errors.New("alerts.webhook.url must be an http(s) URL"))
		}
		if c.Webhook.SecretFile == "" {
			errs = append(errs, errors.New("alerts.webhook.secret_file is required: webhook bodies are signed"))
		}
	}
	if c.Kafka.Topic != "" && (strings.ContainsAny(c.Kafka.Topic, " /") || len(c.Kafka.Topic) > 249) {
		errs = append(errs, fmt.Errorf("alerts.kafka.topic %q is not a valid topic name", c.Kafka.Topic))
	}
	return errors.Join(errs...)
}

// LoadRoster returns the inline roster plus the entries of RosterFile.
func (c Config) LoadRoster() ([]Staff, error) {
	out := slices.Clone(c.Roster)
	if c.RosterFile == "" {
		return out, nil
	}
	raw, err := os.ReadFile(c.RosterFile)
	if err != nil {
		return nil, fmt.Errorf("alerts: roster file: %w", err)
	}
	var more []Staff
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&more); err != nil {
		return nil, fmt.Errorf("alerts: roster file %s: %w", c.RosterFile, err)
	}
	return append(out, more...), nil
}
