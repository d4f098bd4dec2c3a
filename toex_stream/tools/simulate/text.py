"""Advert wording, referral narratives and intelligence text for the simulator.

Advert phrases follow the indicator categories of published research on
trafficking in online sex adverts (third-party control, restricted movement,
newness and touring, youth language, obscured contact; e.g. Ibanez & Suthers
2014, Tong et al. 2017, the Polaris typology) and of labour-exploitation
recruitment (free transport and housing, no English needed, pay held back).
Background adverts carry some indicators too, as real ones do, along with the
independence markers that point the other way.
"""

from __future__ import annotations

import random

NEWNESS_TOURING = [
    "New in town", "Just arrived", "Only here for a few days", "Last days in {town}",
    "Visiting {town} this week", "New girl", "Back in {town} for short time",
]
THIRD_PARTY = [
    "My friend answers the phone", "Booking through my manager only", "Call my driver to book",
    "Text first, my friend will reply", "Ask for the lady on the phone",
]
RESTRICTED = [
    "Outcalls only with driver", "Incall only, no going out", "Available 24/7",
    "Always available, day and night", "Hotel visits only",
]
YOUTH = ["Young and fresh", "Petite young girl", "Barely 18", "Sweet young student", "Fresh face"]
OBSCURED = [
    "WhatsApp only", "No private numbers", "Call {spelled}", "Text only, no calls",
    "Snap me for number",
]
HUNGARIAN = ["Szia!", "Magyar lány vagyok.", "Új vagyok a városban.", "Csak pár napig!", "Hívj most!"]
ROMANIAN = ["Bună!", "Sunt nouă în oraș.", "Fată din România.", "Doar câteva zile!", "Sună-mă!"]
INDEPENDENT = [
    "Independent, I answer my own phone", "My own private flat", "Mature and independent",
    "Verified reviews", "No agency", "Please read my rules before booking",
]
GENERIC = [
    "Discreet and friendly", "Clean and comfortable place", "Genuine photos", "Open minded",
    "Relaxing company", "Please call for rates", "Parking nearby",
]

_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def spell_number(national: str) -> str:
    """A number with some digits as words, as adverts write it to dodge filters.

    >>> spell_number("07700900123")
    '0 seven 7 zero 0 nine 0 zero 1 two 3'
    """
    return " ".join(_DIGIT_WORDS[int(d)] if i % 2 else d for i, d in enumerate(national))


def network_advert(rng: random.Random, working_name: str, age: int, town: str, national_phone: str) -> tuple[str, str]:
    """Title and body of an advert run by a controlling network: several indicators at once."""
    title = f"{rng.choice(NEWNESS_TOURING).format(town=town)} - {working_name}, {age}"
    phrases = [
        f"Hi, I'm {working_name}.",
        rng.choice(HUNGARIAN),
        rng.choice(YOUTH),
        rng.choice(THIRD_PARTY),
        rng.choice(RESTRICTED),
    ]
    if rng.random() < 0.5:
        phrases.append(rng.choice(NEWNESS_TOURING).format(town=town))
    if rng.random() < 0.35:
        phrases.append(rng.choice(OBSCURED).format(spelled=spell_number(national_phone)))
    if rng.random() < 0.5:
        phrases.append(rng.choice(HUNGARIAN))
    phrases.append(rng.choice(GENERIC))
    return title, " ".join(phrases)


def background_advert(
    rng: random.Random, working_name: str, age: int, town: str, national_phone: str
) -> tuple[str, str]:
    """An ordinary advert: mostly independence markers, with the odd indicator real adverts carry."""
    title = f"{working_name}, {age} - {town}"
    phrases = [rng.choice(INDEPENDENT), rng.choice(GENERIC)]
    if rng.random() < 0.25:
        phrases.append(rng.choice(NEWNESS_TOURING).format(town=town))
    if rng.random() < 0.1:
        phrases.append(rng.choice(YOUTH))
    if rng.random() < 0.1:
        phrases.append(rng.choice(RESTRICTED))
    if rng.random() < 0.05:
        phrases.append(rng.choice(OBSCURED).format(spelled=spell_number(national_phone)))
    if rng.random() < 0.5:
        phrases.append(rng.choice(INDEPENDENT))
    rng.shuffle(phrases)
    return title, f"Hi, I'm {working_name}. " + ". ".join(phrases)


RECRUITMENT_RO = [
    "Locuri de muncă în Anglia", "Angajăm urgent pentru depozit și fabrică", "Cazare asigurată",
    "Transport gratuit până în UK", "Nu este nevoie de engleză", "Plata săptămânal",
    "Contract pe loc", "Lucru în {town}, zona Northampton",
]
RECRUITMENT_EN = [
    "Factory and warehouse work, start now", "Accommodation provided", "Free travel to the UK",
    "No English needed", "Cash weekly", "We arrange bank account and documents",
]
ORDINARY_JOBS = [
    "Warehouse operatives wanted", "Day shifts, holiday pay, pension", "Apply with CV and right-to-work documents",
    "Forklift licence an advantage", "Agency staff, weekly pay by bank transfer",
]


def recruitment_advert(rng: random.Random, town: str) -> tuple[str, str]:
    """A job offer of the kind labour-exploitation gangs post in Romanian."""
    title = rng.choice(RECRUITMENT_RO[:2])
    phrases = rng.sample(RECRUITMENT_RO[2:], 3) + rng.sample(RECRUITMENT_EN, 2)
    return title, " ".join(p.format(town=town) + "." for p in phrases)


def ordinary_job_advert(rng: random.Random, town: str) -> tuple[str, str]:
    return f"Warehouse jobs in {town}", " ".join(rng.sample(ORDINARY_JOBS, 3))


def debt_bondage_narrative(rng: random.Random, town: str, amount: int) -> str:
    return (
        f"Woman seen at a support drop-in in {town}. She says she was brought from Hungary by a family "
        f"friend with a promise of work in a restaurant and now owes about £{amount:,} for travel and rent. "
        "Her earnings are taken to pay the debt, she is moved between towns every few days and a man "
        "keeps her passport. She is frightened of the man who drives her to appointments."
    )


def labour_narrative(rng: random.Random, town: str, workers: int) -> str:
    return (
        f"Romanian worker approached our outreach team in {town}. He and about {workers} others were "
        "recruited in Romania with a job offer, brought by minibus, and housed in an overcrowded house. "
        "Their ID documents and phones were taken on arrival 'for safekeeping'; wages go into bank "
        "accounts the gang controls, with deductions for rent and transport. They are driven to a "
        "warehouse each morning."
    )


RECRUITMENT_NAILS = [
    "Tuyển thợ nail", "Cần người làm nail gấp", "Bao ăn ở", "Không cần kinh nghiệm", "Trả tiền mặt hàng tuần",
    "Nail technician wanted, no experience needed", "Accommodation provided above the shop", "Cash paid daily",
    "Training given", "Start today in {town}",
]


def nail_recruitment_advert(rng: random.Random, town: str) -> tuple[str, str]:
    """A job offer of the kind nail-bar controllers post in Vietnamese and English."""
    title = rng.choice(RECRUITMENT_NAILS[:2] + RECRUITMENT_NAILS[5:6])
    phrases = rng.sample(RECRUITMENT_NAILS[2:5], 2) + rng.sample(RECRUITMENT_NAILS[6:], 2)
    return title, " ".join(p.format(town=town) + "." for p in phrases)


def nail_bar_narrative(rng: random.Random, town: str, workers: int) -> str:
    return (
        f"Our outreach worker visited a nail bar in {town}. {workers} young Vietnamese workers there sleep "
        "above the shop, work from 9 until late every day and say they owe the owner for their journey to the "
        "UK. They have no phones of their own; the owner keeps their passports and pays them in cash, if at "
        "all. The owner was present and answered for them."
    )


def nail_bar_intel(rng: random.Random, town: str) -> str:
    return (
        f"Subject is believed to run nail bars in {town} staffed by Vietnamese nationals who live on the "
        "premises, work unpaid hours to repay travel debts and are moved between his shops. Named workers "
        "below were seen at the premises during a licensing visit."
    )


BACKGROUND_NARRATIVES = [
    "Client disclosed controlling behaviour by an ex-partner; no indication of exploitation by a third party.",
    "Concern raised by a neighbour about a young man; on follow-up he is living with family and in education.",
    "Worker disputes unpaid holiday pay with an employer; referred for employment advice.",
    "Woman reports threats from a former partner over child contact; safeguarding plan in place.",
    "Rough sleeper asked about casual work offers at a car wash; no sign of coercion on follow-up.",
]


def controller_intel(rng: random.Random, towns: list[str]) -> str:
    return (
        f"Subject is believed to run women advertised for sex across {', '.join(towns)}, moving them every "
        "few days and collecting the money. Drives a grey estate car. Uses several mobile numbers."
    )


def gang_intel(rng: random.Random, town: str) -> str:
    return (
        f"Subject is believed to control Romanian workers housed in {town} and to hold their identity "
        "documents and bank cards. Collects workers from the house by minibus each morning."
    )


BACKGROUND_INTEL = [
    "Report of a disturbance at an address; parties known to each other, no further concern.",
    "Subject seen associating with known shoplifters; low-level acquisitive crime.",
    "Anonymous report of cannabis smell at an address; unverified.",
    "Subject is a regular at a licensed premises where fights have occurred; no offences recorded.",
]
