package notes

import "strings"

// commonDrugs is a modest list of frequently prescribed medicines (generic
// and a few brand names) so the support check can tell a medication name
// from an ordinary word; drugSuffix catches most others by their stem.
var commonDrugs = setOf(`
acetaminophen paracetamol tylenol ibuprofen advil motrin naproxen aleve aspirin diclofenac meloxicam celecoxib celebrex
tramadol oxycodone hydrocodone codeine morphine fentanyl gabapentin pregabalin lyrica neurontin
metformin glipizide glyburide glimepiride insulin lantus humalog novolog januvia jardiance farxiga ozempic trulicity victoza mounjaro
lisinopril enalapril ramipril losartan valsartan irbesartan olmesartan amlodipine nifedipine diltiazem verapamil
metoprolol atenolol carvedilol propranolol bisoprolol labetalol hydrochlorothiazide hctz chlorthalidone furosemide lasix
bumetanide torsemide spironolactone hydralazine clonidine
atorvastatin lipitor simvastatin rosuvastatin crestor pravastatin lovastatin ezetimibe zetia
warfarin coumadin apixaban eliquis rivaroxaban xarelto dabigatran clopidogrel plavix heparin enoxaparin lovenox
levothyroxine synthroid methimazole prednisone prednisolone methylprednisolone medrol dexamethasone hydrocortisone
albuterol proair ventolin fluticasone flonase advair symbicort budesonide montelukast singulair tiotropium spiriva
cetirizine zyrtec loratadine claritin benadryl diphenhydramine
omeprazole prilosec pantoprazole protonix esomeprazole nexium famotidine pepcid ondansetron zofran
amoxicillin augmentin azithromycin zithromax doxycycline cephalexin keflex ciprofloxacin levofloxacin nitrofurantoin
macrobid bactrim clindamycin penicillin metronidazole flagyl vancomycin fluconazole diflucan acyclovir valacyclovir valtrex
sertraline zoloft fluoxetine prozac citalopram escitalopram lexapro paroxetine paxil venlafaxine effexor duloxetine cymbalta
bupropion wellbutrin trazodone mirtazapine amitriptyline nortriptyline buspirone alprazolam xanax lorazepam ativan
clonazepam klonopin diazepam valium zolpidem ambien quetiapine seroquel aripiprazole abilify risperidone olanzapine lithium
lamotrigine lamictal levetiracetam keppra topiramate topamax sumatriptan imitrex
allopurinol colchicine methotrexate hydroxychloroquine plaquenil humira adalimumab enbrel etanercept
tamsulosin flomax finasteride sildenafil viagra tadalafil cialis oxybutynin
vitamin b12 iron ferrous folic magnesium potassium calcium
estradiol progesterone norethindrone medroxyprogesterone
cyclobenzaprine flexeril methocarbamol tizanidine baclofen
digoxin amiodarone nitroglycerin entresto isosorbide
steroid steroids antibiotic antibiotics
`)

// drugSuffixes are common generic-name stems (ACE inhibitors, beta
// blockers, statins, monoclonal antibodies, sartans, gliptins, PPIs …); a
// word of at least three more lower-case letters ending in one is taken for
// a drug name.
var drugSuffixes = []string{
	"pril", "olol", "alol", "ilol", "statin", "mab", "sartan", "gliptin", "gliflozin", "glutide", "prazole",
	"tidine", "dipine", "cycline", "floxacin", "mycin", "cillin", "azole", "vir", "pam", "lam", "oxetine",
	"triptan", "parin", "xaban", "semide", "thiazide", "sone", "olone", "lukast", "terol", "tropium", "afil",
}

// hasDrugSuffix is regexp `^[a-z]{3,}(pril|olol|…)$`, for every word of a
// sentence, without the regexp.
func hasDrugSuffix(w string) bool {
	if len(w) < 6 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	for _, suf := range drugSuffixes {
		if len(w) >= 3+len(suf) && strings.HasSuffix(w, suf) {
			return true
		}
	}
	return false
}

// notDrugs are ordinary words the suffix pattern would mistake for drugs.
var notDrugs = setOf(`person reason season lesson poison prison mason parson unison caisson venison comparison
example symptom mycin ourselves themselves`)

func isDrug(w string) bool {
	if commonDrugs[w] {
		return true
	}
	return hasDrugSuffix(w) && !notDrugs[w]
}

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// clinical holds words that make a sentence worth keeping in a note: body
// parts, symptoms, conditions, tests, treatments and measures. A sentence
// with none of them (and no number or drug) is chit-chat.
var clinical = setOf(`
pain pains painful ache aches aching hurt hurts hurting sore soreness swelling swollen stiff stiffness tender tenderness
numbness numb tingling weakness weak tired fatigue fatigued lightheaded dizzy dizziness vertigo faint fainting syncope
fever fevers chills sweats cough coughing sputum wheezing wheeze breath breathing shortness congestion runny sneezing
nausea nauseous vomiting vomit diarrhea constipation bloating bloated heartburn reflux appetite weight cramps cramping
headache headaches migraine migraines vision blurry rash itching itchy bleeding bruising blood urine urinating urination
palpitations racing anxiety anxious depression depressed mood sleep sleeping insomnia stress
knee knees back shoulder shoulders hip hips wrist wrists ankle ankles foot feet hand hands finger fingers toe toes elbow
arm arms leg legs neck chest head eye eyes ear ears throat nose mouth teeth skin abdomen belly stomach lungs lung heart
kidney kidneys liver bladder spine joint joints muscle muscles bone bones thumb calf thigh groin pelvis
diabetes diabetic hypertension pressure cholesterol asthma copd arthritis osteoarthritis fracture broken sprain strain
infection cancer tumor thyroid anemia anemic stroke seizure seizures gout tear torn injury injured fall fell
heart failure afib fibrillation apnea obesity pregnant pregnancy period periods menstrual
medication medications medicine medicines pill pills dose doses mg milligrams tablet tablets inhaler injection shot
vaccine refill prescription prescribe prescribed treatment treatments
surgery surgeries operation procedure replacement repair removed hysterectomy appendectomy colonoscopy
xray x-ray mri ct scan ultrasound echo echocardiogram ekg ecg lab labs bloodwork a1c hemoglobin sugar glucose
test tests results biopsy culture
exam examination murmur edema effusion reflexes strength sensation pulses range motion palpation
smoke smoking smoker cigarettes alcohol drink drinks drinking beer wine vape marijuana drugs
diet exercise exercising walking physical therapy therapy brace splint crutches ice elevate rest
allergy allergies allergic referral specialist cardiologist surgeon orthopedic follow
diagnosis diagnosed history chronic acute mild moderate severe worse worsening better improved improving
daily twice nightly weekly morning evening bedtime
`)

// symptomish are words a yes/no question usually asks about; they make
// "do you have any X?" / "no" into "Denies X".
var negators = setOf(`no not never denies denied deny without negative none nor nothing neither cannot nope n't`)

// KnownMedication reports whether the built-in vocabulary (the list of
// common medicines and the drug stems) takes w, lower case, for a
// medication name. The seeded-error evaluation plants drug swaps with it.
func KnownMedication(w string) bool { return isDrug(w) }
