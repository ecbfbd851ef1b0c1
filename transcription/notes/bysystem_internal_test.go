package notes

import (
	"strings"
	"testing"
)

func TestDeniedSymptoms(t *testing.T) {
	checkMapping(t, "deniedSymptoms", deniedSymptoms, map[string]string{
		"any fever, chills, nausea or vomiting":                       "any fever, chills, nausea or vomiting",
		"fever or chills you know i kinda get headaches pretty often": "fever or chills",
		"fever and no chills":                                         "fever and no chills",
		"having any trouble with headaches":                           "",
	})
}

func TestCompressFinding(t *testing.T) {
	checkMapping(t, "compressFinding", compressFinding, map[string]string{
		"he does have some tenderness over the medial joint line":                        "some tenderness over the medial joint line",
		"there's no wheezes rales or rhonchi":                                            "no wheezes rales or rhonchi",
		"examination does not show any swelling":                                         "no swelling",
		"examination does not show any, there's fluid":                                   "examination does not show any, there's fluid",      // a false start
		"examination does not show, there's a little fluid":                              "examination does not show, there's a little fluid", // begun again: no "no there's fluid"
		"there is no, there is a little bit of tenderness":                               "there is no, there is a little bit of tenderness",
		"the patient is positive for pain with resistance against flexion":               "positive for pain with resistance against flexion",
		"she is not positive for pain":                                                   "she is not positive for pain",
		"she has had decreased flexion of the back":                                      "she has had decreased flexion of the back",
		"but there is no, there's no fracture":                                           "but there is no, there's no fracture", // two negations kept apart
		"pain to palpation of the lumbar spine and he has a positive straight leg raise": "pain to palpation of the lumbar spine and a positive straight leg raise",
	})
}

func TestSplitFindings(t *testing.T) {
	join := func(s string) string { return strings.Join(splitFindings(s), " | ") }
	checkMapping(t, "splitFindings", join, map[string]string{
		"no murmur rub or gallop on the lung exam the lungs are clear":               "no murmur rub or gallop | on the lung exam the lungs are clear",
		"will listen to the heart":                                                   "will listen to the heart",
		"no rebound your on examination of the lungs they sound clear":               "no rebound your on examination of the lungs they sound clear", // the negation may reach on
		"full range of motion of the knee and on skin examination a bull's-eye rash": "full range of motion of the knee | and on skin examination a bull's-eye rash",
	})
}

func TestVitalReadings(t *testing.T) {
	checkMapping(t, "vitalReadings", vitalReadings, map[string]string{
		"otherwise the blood pressure is pretty good it's about 132/80 and the heart rate is 84 now that looks pretty good.": "Blood pressure: 132/80. Heart rate: 84.",
		"blood pressure's a little elevated today, 156/94.":                                                                  "Blood pressure: A little elevated, 156/94.",
		"which is right where the care team wants it the heart rate is nice and slow at 67.":                                 "Heart rate: 67.",
		"looks like the blood pressure was 200/90.":                                                                          "", // said of another time, maybe
		"your blood pressure at home has been running 150/90.":                                                               "", // not this visit's
		"blood pressure and the heart rate and the oxygenation all look good.":                                               "",
	})
}

func TestTidyFinding(t *testing.T) {
	checkMapping(t, "tidyFinding", tidyFinding, map[string]string{
		"the lungs are nice and clear to auscultation bilaterally here": "lungs are clear to auscultation bilaterally",
		"their belly is soft": "belly is soft",
		"the clinician does still hear that grade 2 out of 6 murmur": "grade 2 out of 6 murmur",
		"the right knee has some swelling":                           "the right knee has swelling",
	})
}
