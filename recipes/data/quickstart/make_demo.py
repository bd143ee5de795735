#!/usr/bin/env python3
"""Write the small demo data that ``recipes/quickstart.yaml`` builds offline.

Every text in this file was written for aloe-factory (licence: Apache-2.0, like the project); nothing is
copied from a public dataset. The output is deterministic: run ``python recipes/data/quickstart/make_demo.py``
and the same bytes come out every time (stdlib only, fixed seeds).

Files written next to this script:

- ``mcqa.jsonl``         MedQA-style multiple choice (gersteinlab/medagents-benchmark layout)
- ``open_qa.jsonl``      MedQuAD-like consumer-health questions and answers
- ``instructions.json``  Alpaca-format instruction list (one JSON array)
- ``preferences.jsonl``  prompt / chosen / rejected pairs for DPO
- ``bad_lines.jsonl``    6 open_qa lines, line 3 malformed JSON, line 5 without "question" (for tests)
- ``README.md``          what each file holds and which defects were planted, with counts

Defects are planted on purpose so that every cleaning stage has work to do: exact and near duplicates,
URLs and e-mail addresses, control / zero-width characters and messy whitespace, non-English rows,
"As an AI language model" boilerplate, junk answers, and empty answers for bad-input handling.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20250601

# ---------------------------------------------------------------------------------------------------------
# 1. MCQA: a table of conditions; each can yield up to four questions (diagnosis, next step, treatment,
#    mechanism). Distractors for a question are the same field of other conditions in the same organ system.
# ---------------------------------------------------------------------------------------------------------


def C(name, system, a, dx, b, step, tx_stem, tx, mech_stem, mech):
    return dict(
        name=name, system=system, a=a, dx=dx, b=b, step=step, tx_stem=tx_stem, tx=tx, mech_stem=mech_stem, mech=mech
    )


CONDITIONS = [
    # ---- cardiovascular
    C(
        "pericarditis", "cardio",
        "A 27-year-old man comes to the emergency department because of sharp chest pain for 2 days. The pain "
        "worsens when he lies back and improves when he sits up and leans forward. He had an upper respiratory "
        "infection 10 days ago. A scratchy, high-pitched sound is heard at the left sternal border. An ECG shows "
        "diffuse ST-segment elevations with PR-segment depression.",
        "Acute pericarditis",
        "A 31-year-old woman has had pleuritic chest pain for 3 days that eases when she sits forward. A friction "
        "rub is heard at the left lower sternal border. Her vital signs are normal and she has no risk factors for "
        "coronary disease.",
        "12-lead electrocardiography",
        "A 24-year-old man is diagnosed with acute idiopathic pericarditis after a viral illness. He is "
        "hemodynamically stable, and echocardiography shows only a trace pericardial effusion.",
        "High-dose ibuprofen plus colchicine",
        "A 35-year-old man develops pleuritic chest pain and a three-component friction rub 2 weeks after a viral "
        "gastroenteritis. Which of the following best explains his findings?",
        "Inflammation of the visceral and parietal layers of the pericardium",
    ),
    C(
        "stemi", "cardio",
        "A 62-year-old man with hypertension and type 2 diabetes has had crushing substernal chest pressure "
        "radiating to his jaw for 1 hour. He is pale and diaphoretic. An ECG shows ST-segment elevations in leads "
        "II, III and aVF with reciprocal ST depression in aVL.",
        "Acute inferior myocardial infarction",
        "A 58-year-old woman who smokes has had 40 minutes of substernal chest pressure with nausea and sweating. "
        "An ECG shows 3-mm ST-segment elevations in leads V1 to V4. A cardiac catheterization laboratory is "
        "available within the hour.",
        "Emergency percutaneous coronary intervention",
        "A 60-year-old man with an inferior ST-elevation myocardial infarction becomes light-headed. His blood "
        "pressure is 84/50 mm Hg, his jugular veins are distended and his lungs are clear. Right-sided precordial "
        "leads show ST elevation in V4R.",
        "Intravenous normal saline bolus",
        "A 59-year-old man dies suddenly of an acute myocardial infarction. Examination of the left anterior "
        "descending artery at autopsy would most likely show which of the following?",
        "Rupture of an atherosclerotic plaque with superimposed thrombus",
    ),
    C(
        "hfref", "cardio",
        "A 68-year-old man with a previous myocardial infarction has had increasing shortness of breath on "
        "exertion and now needs three pillows to sleep. He has bilateral ankle edema, jugular venous distension "
        "and crackles at both lung bases. An S3 gallop is heard at the apex.",
        "Congestive heart failure",
        "A 71-year-old woman has had worsening exertional dyspnea, orthopnea and leg swelling over 2 months. She "
        "has crackles at both lung bases and pitting edema to the knees. Her serum BNP concentration is elevated.",
        "Transthoracic echocardiography",
        "A 64-year-old man has heart failure with a left ventricular ejection fraction of 30%. He takes carvedilol "
        "and furosemide and is now euvolemic. His blood pressure is 128/78 mm Hg and his serum potassium is "
        "4.3 mEq/L. Which of the following drugs should be added to reduce his mortality?",
        "Lisinopril",
        "A 70-year-old man with ischemic cardiomyopathy has chronic edema. Which of the following compensatory "
        "responses contributes most to his sodium and water retention?",
        "Activation of the renin-angiotensin-aldosterone system",
    ),
    C(
        "afib", "cardio",
        "A 74-year-old woman has had palpitations and mild dyspnea for 3 days. Her pulse is 128/min and "
        "irregularly irregular. An ECG shows no discernible P waves and narrow QRS complexes at irregular "
        "intervals.",
        "Atrial fibrillation",
        "A 69-year-old man with hypertension is found to have an irregularly irregular pulse of 82/min at a "
        "routine visit, and an ECG confirms atrial fibrillation. He has no history of stroke, bleeding or "
        "diabetes, and he feels well.",
        "Start oral anticoagulation with apixaban",
        "A 72-year-old woman with atrial fibrillation of unknown duration has a ventricular rate of 124/min. Her "
        "blood pressure is 138/84 mm Hg, and echocardiography shows a normal ejection fraction. Which of the "
        "following is the most appropriate drug to control her heart rate?",
        "Diltiazem",
        "Which of the following is the most common source of the disorganized electrical activity that initiates "
        "atrial fibrillation?",
        "Ectopic foci in the myocardial sleeves of the pulmonary veins",
    ),
    C(
        "aortic_stenosis", "cardio",
        "A 78-year-old man has had chest pain and light-headedness when climbing stairs for several months and "
        "fainted once while gardening. A harsh crescendo-decrescendo systolic murmur is heard at the right upper "
        "sternal border and radiates to the carotids. The second heart sound is soft.",
        "Aortic stenosis",
        "A 77-year-old man with severe aortic stenosis documented on echocardiography has new exertional angina "
        "and one episode of syncope. He is otherwise active and a good surgical candidate.",
        "Referral for aortic valve replacement",
        None, None,
        "A 79-year-old man has a systolic ejection murmur, and echocardiography shows a thickened trileaflet "
        "aortic valve with restricted opening. Which of the following most likely caused his valve disease?",
        "Age-related dystrophic calcification of the valve cusps",
    ),
    C(
        "endocarditis", "cardio",
        "A 32-year-old man who injects heroin has had fever and fatigue for a week. A new holosystolic murmur is "
        "heard at the left lower sternal border that increases with inspiration. He has painless red macules on "
        "his palms and splinter hemorrhages under several fingernails.",
        "Infective endocarditis",
        "A 66-year-old woman with a prosthetic mitral valve has had low-grade fevers, night sweats and weight loss "
        "for 3 weeks. A new regurgitant murmur is present. She has not received any antibiotics.",
        "Three sets of blood cultures before starting antibiotics",
        "A 30-year-old man who injects drugs has fever, a new tricuspid regurgitation murmur and blood cultures "
        "growing gram-positive cocci in clusters. Susceptibility results are pending.",
        "Intravenous vancomycin",
        "A patient with rheumatic mitral valve disease develops endocarditis after a dental extraction. Which of "
        "the following helps the causative viridans streptococci adhere to the damaged valve?",
        "Dextran production enabling binding to fibrin-platelet aggregates",
    ),
    # ---- pulmonary
    C(
        "copd", "pulm",
        "A 65-year-old woman with a 45-pack-year smoking history has had a productive cough and progressive "
        "dyspnea for several years. She has a barrel chest, prolonged expiration and distant breath sounds. "
        "Spirometry shows an FEV1/FVC ratio of 0.58 that does not improve after a bronchodilator.",
        "Chronic obstructive pulmonary disease",
        "A 60-year-old man who has smoked for 40 years has had a morning cough and shortness of breath on "
        "exertion for 2 years. Chest examination shows scattered expiratory wheezes. He has never had lung "
        "function testing.",
        "Spirometry with bronchodilator testing",
        "A 67-year-old man with COPD has persistent dyspnea when walking uphill and has had no exacerbations in "
        "the past year. He uses his albuterol inhaler several times a day.",
        "Inhaled tiotropium",
        "A 38-year-old man who has never smoked has panacinar emphysema of the lower lobes and mildly elevated "
        "liver enzymes. Which of the following best explains his lung disease?",
        "Unopposed neutrophil elastase activity from alpha-1 antitrypsin deficiency",
    ),
    C(
        "asthma", "pulm",
        "A 19-year-old college student has recurrent episodes of wheezing, chest tightness and nighttime cough, "
        "especially in spring and after running. She has a history of eczema. Between episodes her examination "
        "is normal.",
        "Asthma",
        "A 24-year-old man reports episodic wheezing and cough triggered by cold air and exercise. Lung "
        "examination today is normal, and spirometry, including after a bronchodilator, is also normal.",
        "Methacholine challenge test",
        "A 16-year-old girl with asthma uses her albuterol inhaler 4 days a week and wakes at night with cough "
        "about twice a month. She takes no other medications.",
        "Low-dose inhaled corticosteroid",
        "A 22-year-old man with allergic asthma starts wheezing within minutes of visiting a friend who owns a "
        "cat. Which of the following is responsible for this early-phase bronchoconstriction?",
        "IgE-mediated mast cell degranulation",
    ),
    C(
        "pe", "pulm",
        "A 45-year-old woman develops sudden shortness of breath and pleuritic chest pain 5 days after a total "
        "knee replacement. Her pulse is 118/min, respirations are 26/min and oxygen saturation is 89% on room air. "
        "Her lungs are clear, and her left calf is swollen.",
        "Pulmonary embolism",
        "A 38-year-old woman taking oral contraceptives has sudden dyspnea and pleuritic chest pain after a "
        "12-hour flight. Her pulse is 110/min, her renal function is normal, and her clinical probability of "
        "pulmonary embolism is high.",
        "CT pulmonary angiography",
        "A 52-year-old man has a pulmonary embolism confirmed on CT angiography. He is hemodynamically stable, has "
        "normal renal function and has no risk factors for bleeding.",
        "Direct oral anticoagulant such as rivaroxaban",
        "In a patient with a large pulmonary embolism and clear lungs, which of the following is the main cause "
        "of hypoxemia?",
        "Ventilation-perfusion mismatch",
    ),
    C(
        "pneumonia", "pulm",
        "A 58-year-old man has had fever, shaking chills and a cough productive of rust-colored sputum for "
        "2 days. His temperature is 39.4°C. There are bronchial breath sounds and dullness to percussion over the "
        "right lower lung.",
        "Lobar pneumonia",
        "A 70-year-old woman has had fever and a productive cough for 3 days. There are crackles over the left "
        "lower lung field, and her oxygen saturation is 93% on room air.",
        "Chest radiography",
        "A previously healthy 35-year-old man with no recent antibiotic use has community-acquired pneumonia and "
        "will be treated as an outpatient.",
        "Amoxicillin",
        "The most common bacterial cause of community-acquired pneumonia evades phagocytosis mainly by which of "
        "the following?",
        "A polysaccharide capsule that inhibits opsonization",
    ),
    C(
        "sarcoidosis", "pulm",
        "A 34-year-old African American woman has had a dry cough and mild dyspnea for 3 months. She has tender "
        "red nodules on both shins. A chest radiograph shows bilateral hilar lymphadenopathy, and her serum "
        "calcium is mildly elevated.",
        "Sarcoidosis",
        "A 29-year-old man has bilateral hilar lymphadenopathy on a chest radiograph obtained for a persistent "
        "cough. He also has blurred vision from anterior uveitis. Tuberculin testing is negative.",
        "Bronchoscopy with lymph node biopsy",
        "A 40-year-old woman with biopsy-proven pulmonary sarcoidosis has progressive dyspnea and declining lung "
        "function over 6 months.",
        "Oral prednisone",
        "A lymph node biopsy from a patient with sarcoidosis would most likely show which of the following?",
        "Noncaseating granulomas formed by a Th1-driven immune response",
    ),
    # ---- gastrointestinal
    C(
        "appendicitis", "gi",
        "A 19-year-old man has had abdominal pain for 18 hours that began around the umbilicus and moved to the "
        "right lower quadrant. He has no appetite and is nauseated. His temperature is 38.1°C. There is tenderness "
        "at McBurney point, and pressing on the left lower quadrant causes pain on the right.",
        "Acute appendicitis",
        "A 26-year-old woman has right lower quadrant pain, fever and leukocytosis. A urine pregnancy test is "
        "negative, and the diagnosis remains uncertain after a careful examination.",
        "CT scan of the abdomen and pelvis with contrast",
        "A 22-year-old man has uncomplicated acute appendicitis confirmed on CT.",
        "Laparoscopic appendectomy with preoperative antibiotics",
        "Which of the following most commonly initiates acute appendicitis in adults?",
        "Luminal obstruction, often by a fecalith",
    ),
    C(
        "pancreatitis", "gi",
        "A 48-year-old man has severe epigastric pain radiating to his back that began after a night of heavy "
        "drinking. He has vomited several times. His serum lipase is 8 times the upper limit of normal.",
        "Acute pancreatitis",
        "A 45-year-old woman is admitted with acute pancreatitis. Her pulse is 112/min and her blood pressure "
        "is 100/64 mm Hg. She is vomiting and cannot take anything by mouth.",
        "Intravenous fluid resuscitation with lactated Ringer solution",
        "A 40-year-old man was admitted with mild alcohol-associated pancreatitis. After 48 hours of fluids and "
        "analgesia his pain has settled, he has no nausea and he is hungry.",
        "Early oral refeeding with a low-fat diet",
        "Which of the following is the key early event in the pathogenesis of acute pancreatitis?",
        "Premature activation of trypsin within the pancreas",
    ),
    C(
        "celiac", "gi",
        "A 28-year-old woman has had bloating, foul-smelling diarrhea and a 5-kg weight loss over 6 months. She "
        "has iron deficiency anemia that did not improve with oral iron. An itchy, blistering rash is present on "
        "her elbows.",
        "Celiac disease",
        "A 31-year-old man with type 1 diabetes has chronic diarrhea, flatulence and a low serum ferritin. He eats "
        "a regular diet that includes bread and pasta.",
        "Serum tissue transglutaminase IgA with a total IgA level",
        "A 25-year-old woman has celiac disease confirmed by duodenal biopsy.",
        "Lifelong strict gluten-free diet",
        "Which of the following best describes the pathogenesis of the villous atrophy seen in celiac disease?",
        "T-cell response to gliadin peptides presented by HLA-DQ2 or HLA-DQ8",
    ),
    C(
        "pud", "gi",
        "A 44-year-old man has had burning epigastric pain for 2 months that improves after meals and wakes him "
        "at night. He takes no medications. A stool antigen test for Helicobacter pylori is positive.",
        "Duodenal ulcer",
        "A 39-year-old woman has recurrent epigastric pain that is relieved by eating. She has no weight loss, "
        "bleeding or difficulty swallowing, and she does not take NSAIDs.",
        "Noninvasive testing for Helicobacter pylori",
        "A 50-year-old man has a duodenal ulcer and a positive urea breath test for Helicobacter pylori. He has "
        "no penicillin allergy.",
        "Bismuth quadruple therapy for 14 days",
        "Helicobacter pylori survives in the acidic stomach mainly by which of the following?",
        "Urease production that generates ammonia to buffer gastric acid",
    ),
    C(
        "uc", "gi",
        "A 26-year-old man has had bloody diarrhea with urgency and tenesmus for 6 weeks. Stool cultures are "
        "negative. Colonoscopy shows continuous mucosal inflammation extending from the rectum to the splenic "
        "flexure.",
        "Ulcerative colitis",
        "A 33-year-old woman has had intermittent bloody diarrhea, crampy lower abdominal pain and weight loss "
        "for 3 months. Stool studies for infection are negative.",
        "Colonoscopy with biopsies",
        "A 29-year-old woman has mildly to moderately active ulcerative colitis limited to the left colon.",
        "Mesalamine",
        "Which of the following features distinguishes ulcerative colitis from Crohn disease?",
        "Inflammation confined to the mucosa and submucosa",
    ),
    C(
        "cholecystitis", "gi",
        "A 46-year-old woman has had constant right upper quadrant pain, fever and vomiting for 12 hours after a "
        "fatty meal. She stops breathing in when the right upper quadrant is palpated during deep inspiration.",
        "Acute cholecystitis",
        "A 52-year-old woman has right upper quadrant pain radiating to her right shoulder, a temperature of "
        "38.3°C and leukocytosis.",
        "Right upper quadrant ultrasonography",
        "A 55-year-old man has acute calculous cholecystitis confirmed on ultrasound. He is otherwise healthy.",
        "Early laparoscopic cholecystectomy",
        "Which of the following is the usual initiating event in acute cholecystitis?",
        "Obstruction of the cystic duct by a gallstone",
    ),
    # ---- endocrine
    C(
        "dka", "endo",
        "A 16-year-old girl is brought to the emergency department with vomiting, abdominal pain and confusion. "
        "She has lost weight over the past month and has been drinking and urinating much more than usual. Her "
        "breath has a fruity odor, and her respirations are deep and rapid. Her serum glucose is 520 mg/dL.",
        "Diabetic ketoacidosis",
        "A 22-year-old man with type 1 diabetes has nausea, vomiting and deep, rapid breathing. His glucose is "
        "480 mg/dL, arterial pH 7.12, bicarbonate 9 mEq/L and potassium 4.8 mEq/L.",
        "Intravenous isotonic saline followed by an insulin infusion",
        "A 19-year-old woman with diabetic ketoacidosis is receiving intravenous fluids. Her serum potassium is "
        "2.9 mEq/L. Which of the following should be done before insulin is started?",
        "Replace potassium",
        "Which of the following best explains the metabolic acidosis in diabetic ketoacidosis?",
        "Absolute insulin deficiency causing lipolysis and ketone body production",
    ),
    C(
        "t2dm", "endo",
        "A 52-year-old man with obesity has had increased thirst and urination for 2 months. His fasting plasma "
        "glucose is 146 mg/dL on two occasions, and his hemoglobin A1c is 7.4%. He has velvety dark skin on the "
        "back of his neck.",
        "Type 2 diabetes mellitus",
        "A 45-year-old woman with a BMI of 33 kg/m2 and a family history of diabetes comes for a routine visit. "
        "She has no symptoms and has never been screened.",
        "Measure hemoglobin A1c",
        "A 50-year-old man with newly diagnosed type 2 diabetes has a hemoglobin A1c of 7.6% and normal renal "
        "function. Lifestyle changes have been discussed.",
        "Metformin",
        "Which of the following best describes the pathophysiology of type 2 diabetes mellitus?",
        "Insulin resistance with progressive beta-cell dysfunction",
    ),
    C(
        "graves", "endo",
        "A 32-year-old woman has had weight loss, heat intolerance, palpitations and anxiety for 3 months. She "
        "has a diffuse nontender goiter, bulging eyes with lid lag and a fine tremor. Her TSH is suppressed.",
        "Graves disease",
        "A 41-year-old woman has palpitations, weight loss, a low TSH and an elevated free T4. She has no eye "
        "findings, and her thyroid is mildly enlarged and nontender.",
        "Radioactive iodine uptake scan",
        "A 35-year-old woman with Graves disease has a heart rate of 112/min and a tremor. She is not pregnant. "
        "In addition to a beta-blocker, which of the following drugs should be started to reduce thyroid "
        "hormone synthesis?",
        "Methimazole",
        "Which of the following causes the hyperthyroidism in Graves disease?",
        "Antibodies that stimulate the TSH receptor",
    ),
    C(
        "hashimoto", "endo",
        "A 45-year-old woman has fatigue, constipation, weight gain, cold intolerance and heavy menstrual "
        "periods. Her skin is dry, and her ankle reflexes relax slowly. Her TSH is elevated, her free T4 is low "
        "and anti-thyroid peroxidase antibodies are present.",
        "Hashimoto thyroiditis",
        "A 50-year-old woman reports fatigue, weight gain and constipation for several months. Her skin is dry "
        "and her hair is thinning.",
        "Serum TSH measurement",
        "A 42-year-old woman has primary hypothyroidism caused by chronic autoimmune thyroiditis.",
        "Levothyroxine",
        "Which of the following best describes how the thyroid fails in Hashimoto thyroiditis?",
        "T-cell-mediated destruction of thyroid follicles with anti-TPO antibodies",
    ),
    C(
        "cushing", "endo",
        "A 38-year-old woman has gained weight in her face and trunk and has wide purple abdominal striae, easy "
        "bruising and proximal muscle weakness. Her blood pressure is 158/96 mm Hg, and her fasting glucose is "
        "elevated. She takes no medications.",
        "Cushing syndrome",
        "A 44-year-old man has central obesity, a round face, wide violaceous striae and new hypertension. He has "
        "never used corticosteroids.",
        "24-hour urinary free cortisol measurement",
        "A 36-year-old woman has Cushing disease caused by a 6-mm pituitary adenoma seen on MRI.",
        "Transsphenoidal resection of the adenoma",
        "A 60-year-old man who smokes has features of hypercortisolism, a very high ACTH level and no "
        "suppression of cortisol with high-dose dexamethasone. Which of the following is the most likely source "
        "of his hormone excess?",
        "Ectopic ACTH secretion by a tumor such as small cell lung carcinoma",
    ),
    C(
        "addison", "endo",
        "A 35-year-old woman has had fatigue, weight loss, salt craving and dizziness on standing for 4 months. "
        "Her skin is darkened, including the palmar creases and gums. Her serum sodium is 128 mEq/L and "
        "potassium 5.8 mEq/L.",
        "Primary adrenal insufficiency",
        "A 41-year-old man has fatigue, low blood pressure, hyponatremia and hyperkalemia. His skin looks tanned "
        "although he has not been in the sun.",
        "Morning cortisol with an ACTH stimulation test",
        "A 30-year-old woman is diagnosed with autoimmune primary adrenal insufficiency.",
        "Hydrocortisone plus fludrocortisone",
        "In high-income countries, which of the following is the most common cause of primary adrenal "
        "insufficiency?",
        "Autoimmune destruction of the adrenal cortex",
    ),
    # ---- renal and urinary
    C(
        "mcd", "renal",
        "A 5-year-old boy has had swelling around his eyes and in his legs for a week. Urinalysis shows 4+ "
        "protein and no blood. His serum albumin is 1.9 g/dL and his cholesterol is elevated. Blood pressure and "
        "complement levels are normal.",
        "Minimal change disease",
        "A 6-year-old girl has periorbital edema, heavy proteinuria and hypoalbuminemia. Her blood pressure, "
        "renal function and complement levels are normal, and there is no hematuria.",
        "Start oral corticosteroids without a kidney biopsy",
        None, None,
        "Electron microscopy of a kidney biopsy from a child with minimal change disease would show which of the "
        "following?",
        "Effacement of podocyte foot processes",
    ),
    C(
        "psgn", "renal",
        "An 8-year-old boy has cola-colored urine and puffy eyes 2 weeks after a sore throat. His blood pressure "
        "is 142/92 mm Hg. Urinalysis shows red blood cell casts and mild proteinuria, and serum C3 is low.",
        "Poststreptococcal glomerulonephritis",
        "A 9-year-old girl has dark urine, facial swelling and high blood pressure 3 weeks after a skin infection "
        "with honey-crusted sores.",
        "Anti-streptolysin O and anti-DNase B titers with complement levels",
        "A 10-year-old boy with poststreptococcal glomerulonephritis has edema and a blood pressure of "
        "138/90 mm Hg. His renal function is only mildly reduced.",
        "Supportive care with salt restriction and a loop diuretic",
        "Which of the following is responsible for the glomerular injury in poststreptococcal "
        "glomerulonephritis?",
        "Subepithelial immune complex deposits that activate complement",
    ),
    C(
        "nephrolithiasis", "renal",
        "A 40-year-old man has sudden, severe colicky pain in his right flank radiating to the groin. He cannot "
        "lie still and has vomited twice. Urinalysis shows blood but no leukocytes.",
        "Ureteral calculus",
        "A 35-year-old woman has intermittent severe left flank pain radiating to the groin and microscopic "
        "hematuria. She is not pregnant.",
        "Noncontrast CT of the abdomen and pelvis",
        "A 45-year-old man has a 4-mm stone in the distal ureter. His pain is controlled, he has no fever and "
        "his renal function is normal.",
        "Analgesia and tamsulosin to aid stone passage",
        "Which of the following most commonly underlies kidney stone formation in adults?",
        "Urine supersaturation with calcium oxalate",
    ),
    C(
        "pyelonephritis", "renal",
        "A 24-year-old woman has a temperature of 39.2°C, chills, right flank pain and nausea. She had burning "
        "on urination 3 days ago. There is right costovertebral angle tenderness, and urinalysis shows white "
        "blood cell casts.",
        "Acute pyelonephritis",
        "A 27-year-old woman who is not pregnant has had painful, frequent urination for 2 days. She has no "
        "fever, flank pain or vaginal discharge.",
        "Urinalysis for leukocyte esterase and nitrites",
        "A 25-year-old woman has uncomplicated acute cystitis. She is not pregnant and has no drug allergies.",
        "Nitrofurantoin for 5 days",
        "Which bacterial feature most helps Escherichia coli ascend the urinary tract to cause pyelonephritis?",
        "P fimbriae that bind uroepithelial cells",
    ),
    # ---- neurology
    C(
        "stroke", "neuro",
        "A 70-year-old man with atrial fibrillation suddenly developed weakness of his right arm and the right "
        "side of his face 90 minutes ago. He understands commands, but his speech is halting and effortful.",
        "Left middle cerebral artery ischemic stroke",
        "A 65-year-old woman developed left-sided weakness and slurred speech 1 hour ago. Her fingerstick "
        "glucose is normal.",
        "Noncontrast CT of the head",
        "A 68-year-old woman has an acute ischemic stroke that began 2 hours ago. Noncontrast CT shows no "
        "hemorrhage, her blood pressure is 168/94 mm Hg and she takes no anticoagulants.",
        "Intravenous alteplase",
        "Neurons in the core of an ischemic stroke die mainly because of which of the following?",
        "ATP depletion leading to glutamate excitotoxicity and calcium influx",
    ),
    C(
        "sah", "neuro",
        "A 47-year-old woman has a sudden, severe headache that she calls the worst of her life, followed by "
        "vomiting and a stiff neck. Her mother had polycystic kidney disease.",
        "Subarachnoid hemorrhage",
        "A 52-year-old man had a sudden thunderclap headache 12 hours ago. Noncontrast CT of the head is normal.",
        "Lumbar puncture to look for xanthochromia",
        "A 50-year-old woman has a subarachnoid hemorrhage from a ruptured berry aneurysm. Which of the "
        "following drugs is given to reduce the risk of delayed cerebral ischemia?",
        "Nimodipine",
        "Which of the following is the most common cause of nontraumatic subarachnoid hemorrhage?",
        "Rupture of a saccular (berry) aneurysm",
    ),
    C(
        "migraine", "neuro",
        "A 24-year-old woman has recurrent throbbing one-sided headaches lasting 6 to 24 hours, with nausea and "
        "sensitivity to light and sound. Some episodes are preceded by flickering zigzag lines in her vision. "
        "Her neurologic examination is normal.",
        "Migraine with aura",
        "A 30-year-old woman has had the same pattern of episodic headaches for 10 years. She has no red-flag "
        "features, and her neurologic examination is normal.",
        "Clinical diagnosis without neuroimaging",
        "A 27-year-old woman has a migraine attack that did not respond to ibuprofen. She has no cardiovascular "
        "disease.",
        "Sumatriptan",
        "Which of the following mechanisms is most strongly implicated in migraine pain?",
        "Trigeminovascular activation with release of CGRP",
    ),
    C(
        "myasthenia", "neuro",
        "A 34-year-old woman has double vision and drooping eyelids that get worse toward evening. She also has "
        "trouble chewing at the end of meals, and sustained upward gaze makes the ptosis worse. Reflexes and "
        "sensation are normal.",
        "Myasthenia gravis",
        "A 29-year-old man has ptosis and double vision that worsen with use of the eye muscles. His examination "
        "is otherwise normal.",
        "Acetylcholine receptor antibody testing",
        "A 40-year-old woman with generalized myasthenia gravis has fatigable weakness of her arms. Which drug "
        "gives the best initial symptomatic relief?",
        "Pyridostigmine",
        "Which of the following causes the muscle weakness in myasthenia gravis?",
        "Autoantibodies against postsynaptic acetylcholine receptors",
    ),
    C(
        "parkinson", "neuro",
        "A 66-year-old man has a resting tremor of his right hand that disappears when he reaches for objects. "
        "He walks with short, shuffling steps, his face shows little expression, and there is cogwheel rigidity "
        "at the wrist.",
        "Parkinson disease",
        None, None,
        "A 70-year-old man with Parkinson disease has slowness of movement that now limits his daily activities.",
        "Carbidopa-levodopa",
        "Which of the following is the primary pathologic change in Parkinson disease?",
        "Loss of dopaminergic neurons in the substantia nigra pars compacta",
    ),
    # ---- infectious disease
    C(
        "meningitis", "id",
        "A 19-year-old college student has had fever, severe headache and neck stiffness for 12 hours. She is "
        "confused, and there is a petechial rash on her legs. Flexing her neck causes her hips and knees to flex.",
        "Meningococcal meningitis",
        "A 45-year-old man has fever, headache, neck stiffness and confusion. He has no papilledema and no focal "
        "neurologic deficits.",
        "Blood cultures followed by lumbar puncture and immediate empiric antibiotics",
        "A 30-year-old man has suspected bacterial meningitis, and blood cultures have been drawn. Which empiric "
        "regimen is most appropriate?",
        "Ceftriaxone, vancomycin and dexamethasone",
        "The petechial rash and shock in meningococcal disease are mainly caused by which of the following?",
        "Lipooligosaccharide endotoxin triggering cytokine release",
    ),
    C(
        "tb", "id",
        "A 40-year-old man who moved from the Philippines a year ago has had cough, night sweats, fevers and a "
        "6-kg weight loss over 3 months. He has coughed up blood twice. A chest radiograph shows a cavitary "
        "lesion in the right upper lobe.",
        "Pulmonary tuberculosis",
        "A 28-year-old nurse has 12 mm of induration on a tuberculin skin test at routine screening; last year's "
        "test was negative. She has no symptoms.",
        "Chest radiograph to exclude active disease",
        "A 45-year-old man has active pulmonary tuberculosis, and the isolate is fully susceptible. Which initial "
        "regimen is most appropriate?",
        "Rifampin, isoniazid, pyrazinamide and ethambutol",
        "Containment of Mycobacterium tuberculosis in the lung depends mainly on which of the following?",
        "Th1 cells releasing interferon-gamma to activate macrophages",
    ),
    C(
        "mono", "id",
        "A 17-year-old boy has had fever, sore throat and fatigue for a week. He has tonsillar exudates, tender "
        "posterior cervical lymph nodes and a palpable spleen tip. A blood smear shows atypical lymphocytes.",
        "Infectious mononucleosis",
        "An 18-year-old woman has fever, pharyngitis and posterior cervical lymphadenopathy. A rapid strep test "
        "is negative.",
        "Heterophile antibody (Monospot) test",
        "A 16-year-old football player has infectious mononucleosis with splenomegaly. Which of the following is "
        "the most appropriate recommendation?",
        "Supportive care and no contact sports for at least 3 weeks",
        "The virus that causes infectious mononucleosis infects B lymphocytes through which of the following?",
        "Binding of Epstein-Barr virus to CD21 on B cells",
    ),
    C(
        "lyme", "id",
        "A 35-year-old man who went hiking in Connecticut 10 days ago has fever, fatigue and an expanding red "
        "rash with central clearing on his thigh.",
        "Lyme disease",
        "A 29-year-old woman has a 7-cm expanding ring-shaped red rash on her back 1 week after camping in "
        "Wisconsin. She does not remember a tick bite.",
        "Empiric treatment without serologic testing",
        "A 40-year-old man has erythema migrans after a tick bite in Massachusetts. He has no drug allergies.",
        "Oral doxycycline",
        "Which of the following best describes how the organism that causes Lyme disease reaches humans?",
        "Transmission of Borrelia burgdorferi by the bite of an Ixodes tick",
    ),
    C(
        "hiv", "id",
        "A 29-year-old man has had fever, sore throat, diffuse lymphadenopathy and a maculopapular rash for "
        "1 week. Six weeks ago he had unprotected sex with a new partner. A heterophile antibody test is negative.",
        "Acute HIV infection",
        "A 32-year-old woman asks to be tested for sexually transmitted infections after starting a relationship "
        "with a new partner. She has no symptoms.",
        "Fourth-generation HIV-1/2 antigen/antibody immunoassay",
        "A 35-year-old man is newly diagnosed with HIV infection. His CD4 count is 480 cells/uL and he has no "
        "opportunistic infections.",
        "Start antiretroviral therapy now, regardless of CD4 count",
        "HIV enters helper T cells mainly through which of the following?",
        "Binding of gp120 to CD4 and the CCR5 co-receptor",
    ),
    # ---- hematology
    C(
        "ida", "heme",
        "A 34-year-old woman with heavy menstrual periods has fatigue and craves ice. Her hemoglobin is "
        "9.1 g/dL, MCV 71 fL, ferritin 6 ng/mL and red cell distribution width increased.",
        "Iron deficiency anemia",
        "A 64-year-old man has fatigue and a microcytic anemia with a low ferritin. He has no gastrointestinal "
        "symptoms and takes no medications.",
        "Colonoscopy and upper endoscopy",
        "A 30-year-old woman has iron deficiency anemia from heavy menstrual bleeding and tolerates oral "
        "medication.",
        "Oral ferrous sulfate",
        "Which of the following best explains the small red cells in iron deficiency anemia?",
        "Insufficient heme for hemoglobin synthesis in developing red cells",
    ),
    C(
        "b12", "heme",
        "A 62-year-old woman has fatigue, numbness and tingling in her feet, and an unsteady gait. Vibration and "
        "position sense are decreased in her legs. Her hemoglobin is 9.8 g/dL with an MCV of 112 fL, and the "
        "smear shows hypersegmented neutrophils.",
        "Vitamin B12 deficiency",
        "A 58-year-old man has a macrocytic anemia with hypersegmented neutrophils. He eats a normal diet and "
        "does not drink alcohol.",
        "Serum vitamin B12 and methylmalonic acid levels",
        "A 66-year-old woman has pernicious anemia with numbness in her feet.",
        "Intramuscular cyanocobalamin",
        "What is the mechanism of vitamin B12 deficiency in pernicious anemia?",
        "Autoantibodies against intrinsic factor and gastric parietal cells",
    ),
    C(
        "sickle", "heme",
        "A 7-year-old boy of West African descent has severe pain in his back and legs that began after a cold "
        "swim. He has had similar episodes before. His hemoglobin is 7.8 g/dL, the reticulocyte count is high, "
        "and the smear shows crescent-shaped red cells.",
        "Sickle cell disease",
        "A 2-year-old girl has painful swelling of both hands and feet and a hemolytic anemia. Both of her "
        "parents have sickle cell trait.",
        "Hemoglobin electrophoresis",
        "A 12-year-old girl with sickle cell anemia has been admitted three times this year for pain crises. "
        "Which long-term therapy reduces the frequency of these crises?",
        "Hydroxyurea",
        "Which of the following explains the sickling of red cells in sickle cell disease?",
        "Polymerization of deoxygenated hemoglobin S",
    ),
    C(
        "itp", "heme",
        "A 6-year-old girl has had bruises on her legs and tiny red spots on her skin for 2 days. Three weeks ago "
        "she had a viral illness. She looks well and has no splenomegaly. Her platelet count is 12,000/uL, and "
        "her hemoglobin and white cell count are normal.",
        "Immune thrombocytopenic purpura",
        "A 30-year-old woman has petechiae on her legs and a platelet count of 18,000/uL on an automated count. "
        "She feels well and takes no medications.",
        "Peripheral blood smear review",
        "A 28-year-old woman with immune thrombocytopenia has a platelet count of 9,000/uL and bleeding gums.",
        "Corticosteroid therapy",
        "Which of the following causes the low platelet count in immune thrombocytopenic purpura?",
        "IgG autoantibodies against platelet glycoprotein IIb/IIIa",
    ),
]

DX_Q = [
    "Which of the following is the most likely diagnosis?",
    "Which of the following best explains these findings?",
    "Which of the following is the most likely cause of this patient's symptoms?",
]
STEP_Q = [
    "Which of the following is the most appropriate next step in management?",
    "Which of the following is the most appropriate next step?",
    "What is the best next step in the evaluation of this patient?",
]
TX_Q = [
    "Which of the following is the most appropriate treatment?",
    "Which of the following is the most appropriate initial management?",
    "Which of the following is the best initial treatment?",
]
