package bestpractice

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/hl7v2"
)

// auDocument is the kit's sample document for an Australian practice: an
// IHI and HPI-Is for patient and clinician, no encounter, and a text whose
// HL7 delimiters (| ^ & ~ \) must be escaped.
func auDocument() *connectors.Document {
	d := connectortest.Sample()
	d.Clinic, d.Encounter = "clinic-bundaberg", ""
	d.Patient, d.PatientName = "ihi:8003 6081 6669 0503", "Jane Mary Citizen"
	d.Author, d.Approver = "hpii:8003611566712356", "hpii:8003611566712356"
	d.Template, d.LOINC, d.LOINCDisplay, d.Title = "gp-consult", "11488-4", "Consult note", "GP consultation"
	d.Text = "S: Cough for 3 days | no fever.\nO: Chest clear; T 37.1^C.\nA: Viral URTI & reassurance.\nP: Review if worse ~ 1 week.\\"
	return d
}

func openHL7(t *testing.T) (*Connector, string) {
	t.Helper()
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	if err := os.Mkdir(inbox, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), connectors.Config{Name: "bp-bundaberg"}, Settings{
		Transport: TransportHL7File, InboxDir: inbox, ReceivingFacility: "Bundaberg Family Practice",
		SendingFacilityID: "8003623233370062", ReceivingFacilityID: "bundabergfp", ReceivingFacilityIDType: "HLINK",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.hl7.now = func() time.Time { return time.Date(2025, 3, 2, 3, 6, 0, 0, time.UTC) }
	return c, inbox
}

func TestHL7FileGolden(t *testing.T) {
	c, inbox := openHL7(t)
	r, err := c.Push(context.Background(), auDocument())
	if err != nil {
		t.Fatal(err)
	}
	if r.Duplicate {
		t.Error("first push reported as duplicate")
	}
	got, err := os.ReadFile(r.ExternalID)
	if err != nil {
		t.Fatalf("receipt %q does not name the delivered file: %v", r.ExternalID, err)
	}
	if filepath.Dir(r.ExternalID) != inbox {
		t.Errorf("delivered to %s, want the inbox %s", r.ExternalID, inbox)
	}
	connectortest.GoldenFile(t, "oru-r01.golden.hl7", got)

	// Read it back: the note text survives escaping exactly.
	m, _, err := hl7v2.Parse(string(got))
	if err != nil {
		t.Fatal(err)
	}
	msh := m["MSH"][0]
	if len(msh[10]) > 20 || msh[10] != hl7v2.ControlID("note-7f3a-v2") || msh[9] != "ORU^R01^ORU_R01" || msh[12] != "2.4^AUS&&ISO3166_1" {
		t.Errorf("MSH = %q", msh)
	}
	// Organisations by identifier (HPI-O with AUSHIC; a messaging id with
	// its type), and no acknowledgement asked of a file drop.
	if msh[4] != "bp-bundaberg^8003623233370062^AUSHIC" || msh[6] != "Bundaberg Family Practice^bundabergfp^HLINK" || msh[15] != "NE" || msh[16] != "NE" {
		t.Errorf("MSH-4 %q, MSH-6 %q, MSH-15/16 %q/%q", msh[4], msh[6], msh[15], msh[16])
	}
	pid := m["PID"][0]
	if pid[3] != "8003608166690503^^^AUSHIC^NI" || pid[5] != "Citizen^Jane Mary^^^^^L" || pid[7] != "19800229" || pid[8] != "F" {
		t.Errorf("PID = %q", pid)
	}
	if obr3 := m["OBR"][0][3]; !strings.HasPrefix(obr3, "note-7f3a-v2^SCRIBEGATE^bp-bundaberg^") {
		t.Errorf("OBR-3 = %q", obr3)
	}
	if len(m["OBX"]) != 3 {
		t.Fatalf("%d OBX segments, want heading, note and footer", len(m["OBX"]))
	}
	if body := hl7v2.Unescape(m["OBX"][1][5]); body != auDocument().Text {
		t.Errorf("approved text altered in OBX-5:\n got %q\nwant %q", body, auDocument().Text)
	}
	text := hl7v2.Unescape(m["OBX"][0][5]) + hl7v2.Unescape(m["OBX"][2][5])
	for _, want := range []string{"Date of consultation: 2 March 2025", "IHI 8003 6081 6669 0503", "Approved by Dr Alex Chen on 02/03/2025 at 2:05 pm", "AI assistance"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered text lacks %q:\n%s", want, text)
		}
	}
}

func TestHL7FileIdempotent(t *testing.T) {
	c, inbox := openHL7(t)
	d := auDocument()
	first, err := c.Push(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	// The importer consumes the file; a resend must still be recognised.
	if err := os.Remove(first.ExternalID); err != nil {
		t.Fatal(err)
	}
	again, err := c.Push(context.Background(), d)
	if err != nil || !again.Duplicate {
		t.Fatalf("resend after import = %+v, %v; want duplicate", again, err)
	}
	if n := countMessages(t, inbox); n != 0 {
		t.Errorf("resend wrote %d messages into the inbox", n)
	}

	// Concurrent pushes of one new version deliver it once.
	d2 := auDocument()
	d2.Version = 3
	var wg sync.WaitGroup
	dups := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			r, err := c.Push(context.Background(), d2)
			if err != nil {
				t.Error(err)
			}
			dups <- r.Duplicate
		})
	}
	wg.Wait()
	close(dups)
	fresh := 0
	for dup := range dups {
		if !dup {
			fresh++
		}
	}
	if fresh != 1 || countMessages(t, inbox) != 1 {
		t.Errorf("8 concurrent pushes: %d reported new, %d files; want 1 and 1", fresh, countMessages(t, inbox))
	}
}

func countMessages(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".hl7") && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

func TestPushRefusesInvalidIdentifiers(t *testing.T) {
	c, inbox := openHL7(t)
	tests := []struct {
		name string
		edit func(*connectors.Document)
	}{
		{"IHI check digit", func(d *connectors.Document) { d.Patient = "ihi:8003608166690504" }},
		{"IHI prefix", func(d *connectors.Document) { d.Patient = "ihi:8003618166690503" }},
		{"Medicare check digit", func(d *connectors.Document) { d.Patient = "medicare:2123456711" }},
		{"HPI-I as patient", func(d *connectors.Document) { d.Patient = "hpii:8003611566712356" }},
		{"author HPI-I", func(d *connectors.Document) { d.Author = "hpii:8003611566712357" }},
		{"author IHI", func(d *connectors.Document) { d.Author = "ihi:8003608166690503" }},
		{"no text", func(d *connectors.Document) { d.Text = " " }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := auDocument()
			tt.edit(d)
			_, err := c.Push(context.Background(), d)
			var pe *connectors.PushError
			if !errors.As(err, &pe) || !pe.Permanent || pe.Message == "" {
				t.Fatalf("Push = %v; want a permanent PushError with a message", err)
			}
		})
	}
	if n := countMessages(t, inbox); n != 0 {
		t.Errorf("%d messages written for invalid documents", n)
	}
}

// TestHL7FileDelivery: the importer's folder only ever holds finished
// messages, readable by the importing service (0640 by default).
func TestHL7FileDelivery(t *testing.T) {
	c, inbox := openHL7(t)
	stop := make(chan struct{})
	seen := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(seen)
				return
			default:
			}
			es, _ := os.ReadDir(inbox)
			for _, e := range es {
				if !strings.HasPrefix(e.Name(), "scribegate-") || !strings.HasSuffix(e.Name(), ".hl7") {
					select {
					case seen <- e.Name():
					default:
					}
				}
			}
		}
	}()
	for i := range 30 {
		d := auDocument()
		d.Version = i + 1
		if _, err := c.Push(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if name, ok := <-seen; ok {
		t.Errorf("the inbox held %q, which is not a delivered message", name)
	}
	fi, err := os.Stat(filepath.Join(inbox, fileName("note-7f3a-v1")))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("delivered file mode %v, want 0640", fi.Mode().Perm())
	}
	if strings.HasPrefix(c.hl7.staging, inbox) {
		t.Errorf("staging folder %s is inside the inbox", c.hl7.staging)
	}
}

func TestHL7FileSettings(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Settings)
	}{
		{"HPI-O with a bad check digit", func(s *Settings) { s.SendingFacilityID = "8003623233370063" }},
		{"messaging id without its type", func(s *Settings) { s.ReceivingFacilityID = "bundabergfp" }},
		{"type without an id", func(s *Settings) { s.ReceivingFacilityIDType = "HLINK" }},
		{"AUSHIC id that is no HPI-O", func(s *Settings) { s.SendingFacilityID, s.SendingFacilityIDType = "12345", "AUSHIC" }},
		{"file mode not octal", func(s *Settings) { s.FileMode = "rw-r-----" }},
		{"file mode the owner cannot write", func(s *Settings) { s.FileMode = "0440" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{Transport: TransportHL7File, InboxDir: t.TempDir()}
			tt.edit(&s)
			if _, err := New(context.Background(), connectors.Config{Name: "bp"}, s); err == nil {
				t.Error("New accepted the settings")
			}
		})
	}
	s := Settings{Transport: TransportHL7File, InboxDir: t.TempDir(), FileMode: "0644"}
	c, err := New(context.Background(), connectors.Config{Name: "bp"}, s)
	if err != nil || c.hl7.mode != 0o644 {
		t.Errorf("file_mode 0644: %v, mode %v", err, c)
	}
}
