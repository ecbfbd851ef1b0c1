package notes

import (
	"regexp"
	"strings"
)

// Reference notes give the review of systems and the physical examination
// by body system ("Musculoskeletal: Reports right knee pain.",
// "Cardiovascular: No murmurs."), as ACI-Bench's clinicians write them. The
// labels are the note's structure, like a section title: they claim
// nothing the consultation did not say, and the drafter adds no other word.

// bodySystem is one body system a note's review of systems or examination
// is ordered by.
type bodySystem uint8

const (
	sysNone bodySystem = iota
	sysConstitutional
	sysEyes
	sysENT
	sysNeck
	sysCardiovascular
	sysRespiratory
	sysGastrointestinal
	sysGenitourinary
	sysMusculoskeletal
	sysSkin
	sysNeurological
	sysPsychiatric
	sysEndocrine
	numBodySystems
)

// bodySystemLabels are the labels, in the order a note lists the systems.
// Content reads a sentence without its label: the label is no claim.
var bodySystemLabels = [numBodySystems]string{
	"", "Constitutional", "Eyes", "Ears, Nose, Mouth and Throat", "Neck", "Cardiovascular", "Respiratory",
	"Gastrointestinal", "Genitourinary", "Musculoskeletal", "Integumentary", "Neurological", "Psychiatric", "Endocrine",
}

// systemCues find the body system a symptom or finding belongs to. Where a
// statement names several, the first named wins; the lists are tuned on
// ACI-Bench's train split (its references' "• System:" lines).
var systemCues = [numBodySystems]*regexp.Regexp{
	sysConstitutional:   regexp.MustCompile(`\b(fevers?|chills|night sweats|sweats|sweating|weight (loss|gain)|(lost|gained|losing|gaining) (some |any |a little |a lot of )?weight|fatigue\w*|tired\w*|appetite|energy|malaise|sleep\w*)\b`),
	sysEyes:             regexp.MustCompile(`\b(vision|visual|blurr\w*|(?:^|[^-])eyes?)\b`), // not a bull's-eye rash
	sysENT:              regexp.MustCompile(`\b(sore throat|throat|congest\w*|nasal|nose|sinus\w*|ears?|hearing|runny|sneez\w*|tonsils?|mouth|teeth|tooth|dysphagia|swallow\w*)\b`),
	sysNeck:             regexp.MustCompile(`\b(neck is|thyro\w*|jugular|jvd|carotid|bruits?|(lymph)?adenopathy|lymph nodes?)\b`),
	sysCardiovascular:   regexp.MustCompile(`\b(chest pain|palpitations?|heart(?:beat|s)?\b|murmurs?|rhythm|gallops?|rubs|pulses?|capillary refill|edema|swelling in (xposs |the |your |his |her |their )?(legs|ankles|feet)|leg swelling)\b`),
	sysRespiratory:      regexp.MustCompile(`\b(shortness of breath|short of breath|breath\w*|dyspnea|cough\w*|wheez\w*|lungs?|crackles|rales|rhonchi|sputum|phlegm|auscultation)\b`),
	sysGastrointestinal: regexp.MustCompile(`\b(nausea|nauseous|vomit\w*|diarrhea|constipat\w*|abdom\w*|belly|stomach|bowel\w*|stools?|heartburn|reflux|indigestion|quadrant|rebound|guarding|bloat\w*)\b`),
	sysGenitourinary:    regexp.MustCompile(`\b(urin\w*|dysuria|pee\w*|bladder|hematuria|incontinen\w*|prostate|kidneys?)\b`),
	sysMusculoskeletal:  regexp.MustCompile(`\b(joints?|muscles?|muscle aches|back pain|back|knees?|shoulders?|hips?|ankles?|wrists?|elbows?|fingers?|thumbs?|feet|foot|toes?|legs?|arms?|hands?|spine|lumbar|cervical|range of motion|straight leg|stiff\w*|effusion|crepitus|extremit\w*|strength|flexion|extension|malleol\w*|ligament\w*|laxity|bony|ecchymosis|epicondyl\w*)\b`),
	sysSkin:             regexp.MustCompile(`\b(rash\w*|itch\w*|skin|lesions?|wounds?|incisions?|bruis\w*|erythema\w*|redness|scars?|moles?|ulcers?|biopsy site)\b`),
	sysNeurological:     regexp.MustCompile(`\b(headaches?|dizz\w*|lightheaded\w*|numb\w*|tingling|weakness|seizures?|faint\w*|syncope|sensation|reflexes|neuro\w*|memory)\b`),
	sysPsychiatric:      regexp.MustCompile(`\b(depress\w*|anxi\w*|mood|suicid\w*|homicid\w*|stressed|stressful|panic)\b`),
	sysEndocrine:        regexp.MustCompile(`\b(thirst\w*|heat intolerance|cold intolerance|polyuria|blood sugars?)\b`),
}

// systemOf returns the body system a statement names most often (the
// first named of those tied), or sysNone: "swelling and bruising,
// tenderness on palpation, bony crepitus" is a joint's examination, though
// bruising is the skin's.
func systemOf(s string) bodySystem {
	best, bestN, at := sysNone, 0, len(s)+1
	for sys := sysConstitutional; sys < numBodySystems; sys++ {
		locs := systemCues[sys].FindAllStringIndex(s, -1)
		if n := len(locs); n > bestN || n > 0 && n == bestN && locs[0][0] < at {
			best, bestN, at = sys, n, locs[0][0]
		}
	}
	return best
}

// withSystemLabel puts a body system's label before a note sentence.
func withSystemLabel(sys bodySystem, text string) string {
	return bodySystemLabels[sys] + ": " + text
}

// splitSystemLabel returns a sentence's body system label and the rest of
// the sentence, or "" and the sentence when it carries no label.
func splitSystemLabel(text string) (label, rest string) {
	for _, l := range bodySystemLabels[1:] {
		if r, ok := strings.CutPrefix(text, l+": "); ok {
			return l, r
		}
	}
	return "", text
}
