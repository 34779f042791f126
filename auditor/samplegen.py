"""Deterministic generator of a realistic sample mailbox for outreach-auditor.

Why this exists
---------------
The auditor reads people's real mailboxes, and real mail is private: it cannot be committed, shared in a bug
report or used in CI.  This module invents one instead: the outreach mail of a small (fictional) nonprofit,
Riverbend Literacy Project, whose three staff ask people for donations, podcast interviews, introductions,
volunteer time, meetings, endorsements and ticket purchases.  Every message is written from templates and
phrase pools in this file (no public text or mail is copied), with a fixed seed, so the same command always
produces the same bytes.  It serves three purposes:

* a demo mailbox (``sample_mail/``) the report can be run on out of the box;
* ground truth: each ask carries a ``truth`` dict (kind, mass/personal, self/other, warm/lapsed/cold, who got a
  human reply) that is never written into the bytes, so the taggers and the answer matcher can be scored;
* a benchmark feed: ``iter_messages(n_messages=N)`` streams any number of messages with flat memory.

The mailbox deliberately contains the things real mailboxes contain: mail-merge blasts, Bcc blasts, a "Hi all"
mail, follow-ups, Gmail- and Outlook-style quoted replies (some without In-Reply-To/References), out-of-office
auto-replies (incl. German and French ones, some without auto-reply headers), delivery status notifications,
HTML-only and multipart/alternative mail, RFC 2047 encoded names and subjects, many time zones, team-internal
mail, other organisations' newsletters, receipts, one message without a Date header, one with an unparseable
Date, and (in the Maildir only) a few broken files.

Ground truth rules
------------------
* ``truth`` is a dict on every message the team *initiates* to people outside the team (the first message of a
  thread, or each separate copy of a mail-merge blast).  Asks have a ``kind`` other than ``"none"``; give-first
  notes, thank-you notes and newsletters have ``kind == "none"``.  Follow-ups, replies, inbound mail and
  team-internal mail carry ``truth=None``.
* ``warmth`` of a recipient at the time ``t`` of a message: ``warm`` if a *two-way* exchange with them (a thread
  holding human mail from them and from the team) happened in the 365 days before ``t``; ``lapsed`` if two-way
  exchanges exist but all are older than that; ``cold`` otherwise (strangers and one-way contacts: people who
  only got our newsletters, or who wrote and were never answered).  For a message with several recipients,
  the message's ``warmth`` is the warmest one.
* ``answered_by`` lists the recipients whose copy of the ask (or a follow-up to it) got a human reply before
  the end of the sample (auto-replies and bounces do not count; a reply from a colleague at the recipient's
  organisation does, credited to the recipient).  Replies can come late (a few after more than 14 days).

Streaming
---------
``iter_messages()`` yields the committed sample (one "world": ~330 people).  With ``n_messages=N`` it keeps
producing further worlds over the same period, each with a fresh, bounded pool of people (different addresses),
and stops after exactly N messages, so memory stays flat whatever N is.  Messages are yielded episode by
episode (a thread with its replies, a blast with its copies), not in global date order.
"""
from __future__ import annotations

import argparse
import base64
import html as _html
import math
import os
import quopri
import random
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Iterable, Iterator

__all__ = [
    "SAMPLE_SEED",
    "TEAM_DOMAIN",
    "TEAM",
    "SAMPLE_AS_OF",
    "SAMPLE_START",
    "SampleMessage",
    "iter_messages",
    "write_maildir",
    "write_mbox",
    "main",
]

SAMPLE_SEED = 2026
TEAM_DOMAIN = "riverbend-literacy.org"
TEAM = (
    "maya.okafor@riverbend-literacy.org",
    "theo.lindqvist@riverbend-literacy.org",
    "priya.raman@riverbend-literacy.org",
)
SAMPLE_START = datetime(2026, 3, 1, tzinfo=timezone.utc)  # first day of the asks
SAMPLE_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)  # the demo's clock: a bit after the last ask

UTC = timezone.utc
KINDS = ("donation", "meeting", "introduction", "interview", "volunteering", "endorsement", "purchase")


@dataclass(frozen=True)
class SampleMessage:
    folder: str  # "INBOX" or "Sent"
    when: datetime  # aware UTC, used for file names / mbox From_ lines
    raw: bytes  # full RFC 5322 message, CRLF line ends
    truth: dict | None  # ground truth for asks (never written into the bytes), else None


# =============================================================================================================
# The team
# =============================================================================================================

_TEAM_INFO = {
    TEAM[0]: ("Maya", "Okafor", "Executive Director"),
    TEAM[1]: ("Theo", "Lindqvist", "Programs Lead, host of the Turning Pages podcast"),
    TEAM[2]: ("Priya", "Raman", "Volunteer & Community Coordinator"),
}
_TEAM_PHONE = {TEAM[0]: "(555) 014-2210", TEAM[1]: "(555) 014-2214", TEAM[2]: "(555) 014-2217"}

# Which team member usually sends which kind of ask.
_SENDER_BY_KIND = {
    "donation": (0.7, 0.0, 0.3),
    "meeting": (0.6, 0.2, 0.2),
    "introduction": (0.5, 0.3, 0.2),
    "interview": (0.1, 0.9, 0.0),
    "volunteering": (0.0, 0.2, 0.8),
    "endorsement": (0.5, 0.3, 0.2),
    "purchase": (0.4, 0.0, 0.6),
}
# How often each sender writes other-focused asks (so senders differ, but style is not a proxy for sender).
_OTHER_FOCUS_P = {TEAM[0]: 0.42, TEAM[1]: 0.55, TEAM[2]: 0.48}


def _signature(addr: str) -> str:
    first, last, title = _TEAM_INFO[addr]
    return f"-- \n{first} {last}\n{title}\nRiverbend Literacy Project\n{_TEAM_PHONE[addr]} | riverbend-literacy.org"


def _team_display(addr: str) -> str:
    first, last, _ = _TEAM_INFO[addr]
    return f"{first} {last}"


# =============================================================================================================
# Names, organisations, roles (all invented)
# =============================================================================================================

_FIRST = (
    "Dana Marcus Elena Samuel Grace Owen Leah Tomas Nadia Caleb Ruth Imani Felix Hannah Jonah Alma Victor Irene "
    "Desmond Lucia Keith Mira Rafael Tessa Gideon Yuki Bianca Omar Fiona Patrick Rosa Anders Carmen Dmitri Esther "
    "Farah Gavin Hollis Ingrid Jasper Kendra Luis Maren Nikhil Opal Quinn Rhea Silas Talia Umar Vera Wesley Ximena "
    "Yara Zane Beatrice Cyrus Delia Emmett Freya Harriet Isaac Juniper Kofi Lorena Mateo Noor Orla Paloma Reuben "
    "Sadie Tobias Una Wren Adaeze Bao Chiara Declan Hamid Priscilla Theodora Magnus Celeste Ansel"
).split()
_LAST = (
    "Whitfield Abernathy Castellano Delgado Everhart Fairbanks Gallagher Haddad Iverson Jablonski Kowalczyk "
    "Lindgren Mbeki Nakamura Oyelaran Pemberton Quintero Rasmussen Sato Thorne Underwood Vasquez Wexler Yilmaz "
    "Zeller Ashby Brennan Carvalho Donnelly Ellison Fontaine Greer Holloway Ibarra Jansen Kincaid Lachance Morrow "
    "Novak Okonkwo Prescott Reyes Sandoval Tanaka Ueda Vance Winslow Adeyemi Bergstrom Chowdhury Dufresne "
    "Esposito Friedman Guzman Halvorsen Iqbal Kaminski Lowell Marchetti Nilsson Ortega Park Radford Stroud Talbot "
    "Varga Whitcombe Ybarra Zimmer Ruiz Mendel Caldwell Osei Petrov Hargrove Ferreira Lindahl Okoro"
).split()
# People whose names need RFC 2047 in headers: (first, last, ascii local part, forced domain or None, language)
_SPECIAL_PEOPLE = (
    ("José", "Martínez", "jose.martinez", None, "en"),
    ("Zoë", "Brandt", "zoe.brandt", None, "en"),
    ("Søren", "Ekdahl", "soren.ekdahl", None, "en"),
    ("Chloé", "Bernard", "chloe.bernard", None, "en"),
    ("Łukasz", "Nowak", "lukasz.nowak", None, "en"),
    ("Renée", "Lavoie", "renee.lavoie", None, "en"),
    ("Siobhán", "Kearney", "siobhan.kearney", None, "en"),
    ("Jürgen", "Haas", "j.haas", "lesehaus-bremen.de", "de"),
    ("Anaïs", "Dubois", "anais.dubois", "lirelavie.fr", "fr"),
)

# domain, name, type, utc offset in minutes (None: American, picked per person)
_ORGS = (
    ("harborlight-foundation.org", "Harborlight Foundation", "funder", None),
    ("brightmeadow.org", "Brightmeadow Fund", "funder", None),
    ("tallgrass-giving.org", "Tallgrass Community Giving", "funder", None),
    ("northfieldschools.org", "Northfield Public Schools", "school", None),
    ("oakhollow-elementary.org", "Oak Hollow Elementary", "school", None),
    ("summitridge-schools.org", "Summit Ridge School District", "school", None),
    ("willowbend-academy.org", "Willowbend Academy", "school", None),
    ("millbrook-library.org", "Millbrook Public Library", "library", None),
    ("eastgate-library.org", "Eastgate Branch Library", "library", None),
    ("cedarpodcast.fm", "Cedar Podcast Network", "podcast", None),
    ("thelisteningroom.fm", "The Listening Room", "podcast", None),
    ("storyhourradio.fm", "Story Hour Radio", "podcast", None),
    ("quillandpine.com", "Quill & Pine Books", "business", None),
    ("lanternhouse-books.com", "Lanternhouse Books", "business", None),
    ("pagewise.press", "Pagewise Press", "publisher", None),
    ("bramblewood-press.com", "Bramblewood Press", "publisher", None),
    ("tidewater-credit.coop", "Tidewater Credit Union", "business", None),
    ("kettleworks.io", "Kettleworks", "business", None),
    ("copperleaf-design.com", "Copperleaf Design", "business", None),
    ("riverbendgazette.com", "Riverbend Gazette", "press", None),
    ("ashgrove.edu", "Ashgrove College", "university", None),
    ("greenbank-rotary.org", "Greenbank Rotary Club", "civic", None),
    ("maplecrest-pta.org", "Maplecrest PTA", "civic", None),
    ("lanternlit.org", "Lantern Literacy Alliance", "peer", None),
    ("stillwater-youth.org", "Stillwater Youth Collective", "peer", None),
    ("lesehaus-bremen.de", "Lesehaus Bremen", "library", 60),
    ("lirelavie.fr", "Association Lire la Vie", "peer", 60),
)
_ORG_BY_DOMAIN = {o[0]: o for o in _ORGS}
_FREEMAIL = ("gmail.com", "gmail.com", "gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com",
             "fastmail.com")
_MAILHOST = {"gmail.com": "googlemail.com", "outlook.com": "outlook-mx.outlook.com",
             "hotmail.com": "outlook-mx.outlook.com", "yahoo.com": "mta7.am0.yahoodns.net",
             "icloud.com": "mx01.mail.icloud.com", "fastmail.com": "in1-smtp.messagingengine.com"}
_US_TZ = (-480, -420, -360, -360, -300, -300, -300, -300, -240)  # fixed offsets; plus a few overseas below
_FAR_TZ = (0, 60, 120, 330, 600)

_ROLE_BY_ORGTYPE = {
    "funder": ("funder",), "school": ("teacher", "teacher", "principal"), "library": ("librarian",),
    "podcast": ("podcaster",), "business": ("business",), "publisher": ("author", "author", "business"),
    "press": ("journalist",), "university": ("professor",), "civic": ("civic",), "peer": ("peer",),
}
_FREEMAIL_ROLES = ("donor", "donor", "parent", "parent", "volunteer", "volunteer", "author", "teacher",
                   "podcaster", "donor")
_JOB_TITLE = {
    "funder": ("Program Officer", "Grants Manager", "Community Investment Lead"),
    "teacher": ("Second-Grade Teacher", "Reading Specialist", "Third-Grade Teacher"),
    "principal": ("Principal", "Assistant Principal"),
    "librarian": ("Youth Services Librarian", "Branch Manager", "Children's Librarian"),
    "podcaster": ("Host & Producer", "Executive Producer"),
    "business": ("Owner", "Community Relations Manager", "Marketing Lead"),
    "author": ("Author", "Editor"),
    "journalist": ("Education Reporter", "Features Editor"),
    "professor": ("Associate Professor of Education", "Lecturer in Children's Literature"),
    "civic": ("President", "Community Projects Chair"),
    "peer": ("Program Director", "Coordinator"),
    "donor": ("Retired teacher", "Accountant", "Nurse", "Software engineer"),
    "parent": ("Parent volunteer", "Graphic designer", "Pharmacist"),
    "volunteer": ("Community volunteer", "Retired librarian", "Student"),
}
# Which asks fit which role (weights over KINDS order).
_KIND_WEIGHTS = {
    #             donat meet intro inter volun endor purch
    "funder":     (0.5, 3.0, 1.5, 0.3, 0.0, 0.3, 0.2),
    "teacher":    (0.2, 1.0, 1.0, 1.5, 1.0, 1.5, 0.2),
    "principal":  (0.2, 2.0, 1.5, 0.6, 0.3, 1.5, 0.3),
    "librarian":  (0.2, 1.2, 1.0, 1.5, 0.5, 1.2, 0.2),
    "podcaster":  (0.1, 0.8, 1.2, 2.5, 0.1, 0.5, 0.1),
    "business":   (1.5, 1.5, 0.8, 0.4, 0.3, 0.3, 1.8),
    "author":     (0.2, 0.5, 0.8, 3.0, 0.3, 1.0, 0.2),
    "journalist": (0.1, 1.0, 0.8, 1.5, 0.1, 0.3, 0.1),
    "professor":  (0.2, 1.0, 1.5, 1.8, 1.2, 0.8, 0.1),
    "civic":      (0.8, 1.5, 1.2, 0.5, 1.2, 0.5, 1.2),
    "peer":       (0.1, 1.5, 1.5, 1.2, 0.3, 0.8, 0.1),
    "donor":      (3.0, 0.5, 0.5, 0.2, 0.8, 0.5, 1.5),
    "parent":     (1.2, 0.3, 0.5, 0.3, 2.0, 0.5, 1.0),
    "volunteer":  (0.8, 0.4, 0.5, 0.3, 3.0, 0.8, 0.5),
}
_TITLES = ("Small Rivers", "The Lantern Year", "Otis and the Paper Moon", "A House Made of Maps",
           "The Quiet Bookmobile", "Night Kites", "Grandma's Secret Shelf", "The Fox Who Read Backwards",
           "Puddle Jumpers", "Mabel Builds a Library", "Where the Ferry Turns", "Twelve Letters Home",
           "The Thursday Club", "Sunflowers for Sol", "A Map of Tiny Things", "Hattie and the Long Winter")
_SHOWS = ("Bedtime Stories Decoded", "The Margins", "Kid Lit Hour", "Small Readers, Big Ideas",
          "The Story Shelf", "Chapter and Verse Kids")
_SCHOOLS = ("Oak Hollow Elementary", "Northfield Elementary", "Summit Ridge Primary", "Willowbend Academy",
            "Lincoln Street School", "Maplecrest Elementary")
_GRADES = ("first-grade", "second-grade", "third-grade", "fourth-grade")
_LIBRARIES = ("Millbrook Public Library", "the Eastgate branch library", "the Riverbend County Library")


@dataclass
class _Person:
    first: str
    last: str
    email: str
    domain: str
    org: str | None
    role: str
    title: str
    tz: int  # minutes east of UTC
    lang: str
    noise: float  # per-recipient answer propensity
    thing: str  # something only they would recognise
    aud: str  # the people they serve
    hooks: tuple[str, ...]  # personal opening sentences about `thing`
    category: str = "none"  # warm | lapsed | oneway_out | oneway_in | none (generation intent)
    dead: bool = False  # address bounces
    ooo: list = field(default_factory=list)  # [(start, end, style)]
    two_way: list = field(default_factory=list)  # [(first msg, last msg, topic)] two-way exchanges
    owner: str = TEAM[0]
    colleague: "_Person | None" = None

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def mailhost(self) -> str:
        if self.domain in _MAILHOST:
            return _MAILHOST[self.domain]
        return ("mx1." if len(self.domain) % 2 else "mail.") + self.domain

    @property
    def freemail(self) -> bool:
        return self.domain in _MAILHOST


def _role_details(rng: random.Random, role: str, org: str | None) -> tuple[str, str, tuple[str, ...]]:
    school = org if org and role in ("teacher", "principal") else rng.choice(_SCHOOLS)
    if role == "author":
        t = rng.choice(_TITLES)
        return (f"your book {t}", "your readers", (
            f"I read {t} aloud to our Tuesday reading club last month, and the kids keep asking for it again.",
            f"{t} has been the most borrowed book in our little lending library this spring.",
            f"One of our tutors brought in {t}, and it has quietly become our second graders' favourite.",
        ))
    if role == "teacher":
        g = rng.choice(_GRADES)
        return (f"your {g} class at {school}", "your students", (
            f"Our volunteers still talk about the morning they spent with your {g} class at {school}.",
            f"I heard about the reading-corner project your {g} class at {school} built this year, and loved it.",
            f"The thank-you cards from your {g} class at {school} are still pinned above my desk.",
        ))
    if role == "principal":
        return (f"the new reading room at {school}", "your students and families", (
            f"Congratulations on opening the new reading room at {school} - the photos in the district "
            f"newsletter were lovely.",
            f"I walked past {school} on Saturday and saw the new reading room lit up; it looks wonderful.",
        ))
    if role == "librarian":
        lib = org or rng.choice(_LIBRARIES)
        return (f"the summer reading challenge at {lib}", "your young patrons", (
            f"The summer reading challenge you ran at {lib} was the talk of our tutors - six hundred kids is "
            f"a remarkable turnout.",
            f"A parent told me the summer reading challenge at {lib} is the reason her son now reads at night.",
        ))
    if role == "podcaster":
        show = org if org else rng.choice(_SHOWS)
        return (f"your show {show}", "your listeners", (
            f"Your recent episode of {show} on reluctant readers was one of the best things I've heard "
            f"this year.",
            f"I've been catching up on {show} on my commute; the episode with the school librarians made me "
            f"laugh out loud.",
        ))
    if role == "funder":
        o = org or "your foundation"
        return (f"{o}'s early-literacy grants", "the programs you fund", (
            f"Your remarks at the Tri-County Literacy Summit about funding small programs stayed with me.",
            f"I read {o}'s new early-literacy strategy last week, especially the part about summer learning.",
        ))
    if role == "business":
        o = org or "your shop"
        return (f"the community board at {o}", "your customers", (
            f"The community board at {o} is covered in kids' drawings these days, and it made my morning.",
            f"I saw the window display at {o} for Read Across Riverbend week - what a nice touch.",
        ))
    if role == "journalist":
        topic = rng.choice(("library hours", "the school-bus shortage", "summer learning loss"))
        return (f"your piece in the Riverbend Gazette on {topic}", "your readers", (
            f"Your piece in the Riverbend Gazette on {topic} was the clearest account I've read.",
            f"I shared your Riverbend Gazette article on {topic} with our whole board.",
        ))
    if role == "professor":
        o = org or "Ashgrove College"
        return (f"your children's literature seminar at {o}", "your students", (
            f"Two of our tutors took your children's literature seminar at {o} and still quote it.",
            f"I heard good things about the public lecture from your children's literature seminar at {o}.",
        ))
    if role == "civic":
        o = org or "the Greenbank Rotary Club"
        return (f"the {o} reading breakfast", "your members", (
            f"The {o} reading breakfast in the spring was such a warm event.",
            f"I keep hearing about the {o} reading breakfast from parents at our clubs.",
        ))
    if role == "peer":
        o = org or "your organisation"
        return (f"the family reading nights at {o}", "the families you work with", (
            f"I've been hearing great things about the family reading nights at {o}.",
            f"The family reading nights at {o} are exactly the kind of thing we'd love to learn from.",
        ))
    if role == "donor":
        return ("your letter to the Riverbend Gazette about the library levy", "your neighbours", (
            "Your letter to the Riverbend Gazette about the library levy was passed around our office.",
            "I loved your letter to the Riverbend Gazette about the library levy, especially the last line.",
        ))
    if role == "parent":
        return (f"the book swap you organised at {school}", f"the other families at {school}", (
            f"The book swap you organised at {school} is still the talk of our volunteers.",
            f"I heard the book swap you organised at {school} ran out of tables - what a turnout.",
        ))
    # volunteer
    place = rng.choice(("the Millbrook food pantry", "the Fifth Street community garden", "the Eastgate "
                                                                                          "youth soccer league"))
    return (f"your Saturday shifts at {place}", "your neighbours", (
        f"A friend at {place} told me about your Saturday shifts there - they clearly couldn't run without you.",
        f"I hear you've been the backbone of {place} on Saturdays for years.",
    ))


# =============================================================================================================
# Text pools.  Placeholders: {first} {last} {thing} {aud} {org} {sfirst}; all wording written for this module.
# =============================================================================================================

_GREET_WARM = ("Hi {first},", "Hi {first}!", "{first},", "Hey {first},", "Good morning {first},")
_GREET_COLD = ("Dear {first} {last},", "Hi {first},", "Dear {first},", "Hello {first},")

_OPEN_WARM = (
    "Thanks again for your note about {topic} back in {month} - it made our week.",
    "It was so good to be in touch about {topic} in {month}.",
    "I hope things have calmed down a little since we talked about {topic} in {month}.",
    "I keep thinking about our exchange in {month} about {topic}.",
)
_OPEN_LAPSED = (
    "It's been a long time - I think the last time we wrote was back in {month}, about {topic}.",
    "I know it's been ages since {topic} in {month}, so I hope you don't mind me popping up again.",
    "We haven't been in touch since {month}, when we were writing about {topic}. I hope you've been well.",
)
_OPEN_COLD = (
    "My name is {sfirst}, and I'm the {stitle} at Riverbend Literacy Project, a small nonprofit that runs "
    "free reading programs for kids across Riverbend County.",
    "I'm {sfirst} {slast} from Riverbend Literacy Project - we run after-school reading clubs and a summer "
    "book program in Riverbend County.",
    "We haven't met yet: I'm {sfirst}, and I work at Riverbend Literacy Project, a volunteer-powered "
    "literacy nonprofit here in Riverbend County.",
)

# kind -> focus -> (paragraphs, ask lines)
_BODY = {
    "donation": {
        "self": ((
            "We're $6,200 short of our spring goal, and without it we'll have to close one of our four "
            "after-school reading clubs. Our mission is to make sure every child in Riverbend County can read "
            "by the end of third grade, and we need donors like you to get there.",
            "This has been a hard year for us. Two of our grants ended in January, and we're working hard to "
            "close the gap before summer. Every gift keeps our tutors in the classroom.",
            "I'm writing to a handful of supporters because we need forty new monthly donors by June to keep "
            "our bookmobile on the road. It's our most important campaign of the year.",
        ), (
            "Will you chip in $25 to help us hit our goal?",
            "Could you make a gift of $100 this month to help us close the gap?",
            "Would you consider a donation to help us reach our goal?",
            "If you can give anything at all, it would mean a great deal to our team.",
        )),
        "other": ((
            "Because of {thing}, I thought you might like our classroom-sponsor program: you choose a "
            "classroom, and your gift buys a shelf of new books for it. You'd get a note and photos from the "
            "kids at the end of the term.",
            "A gift of $150 would cover a full term of weekly reading sessions for one child, and you'd hear "
            "directly from that child's tutor about how they're getting on.",
            "You might enjoy our supporter reading mornings - a chance to sit in on a session and see for "
            "yourself what the kids are reading, with no speeches and good coffee.",
        ), (
            "Would you like me to send over a few classrooms you could choose from?",
            "If it feels right for you, I can set up a sponsorship in your name, or in honour of someone "
            "you'd like to celebrate.",
            "Would a short visit to a reading session help you decide? Happy to work around your schedule.",
        )),
    },
    "meeting": {
        "self": ((
            "We're planning our fall programs, and I'd like to walk you through what we're doing and what we "
            "still need.",
            "I'm trying to line up a few partners for next year, and I'd really value half an hour to present "
            "our plans.",
            "Our board has asked me to build more local partnerships this year, and I'm hoping to pick your "
            "brain about where we should start.",
        ), (
            "Could we set up a call next week? I'm free Tuesday or Thursday afternoon.",
            "Can I get thirty minutes on your calendar before the end of the month?",
            "Could you meet with me for half an hour some time soon?",
        )),
        "other": ((
            "I'd love to hear how {thing} is going and whether there's anything we could take off your plate - "
            "we have trained volunteers and a few hundred new books looking for good homes.",
            "I know {aud} keep you busy, so I'll keep this short: I think there may be a way for us to take "
            "some of the reading-support load off your team, at no cost to you.",
            "You mentioned in the past that finding time for one-to-one reading is hard; we've had some luck "
            "with a twenty-minute model that might suit you.",
        ), (
            "Would a twenty-minute coffee suit you some time in the next few weeks? Happy to come to you, "
            "whenever works for your schedule.",
            "If you're open to it, pick any slot that suits you and I'll make it work.",
            "Would it be useful to compare notes over a quick call, at a time that's easy for you?",
        )),
    },
    "introduction": {
        "self": ((
            "We're applying to the Harborlight Foundation's literacy fund this fall, and I'm looking for "
            "someone who can introduce us to their program team.",
            "We need a new host school for our Thursday reading club, and I'm hoping to find a principal who "
            "might take us in.",
            "I'm looking for an introduction to someone on the Riverbend school board - we want to present our "
            "summer results and we need a friendly face in the room.",
        ), (
            "Would you be able to introduce me to anyone there?",
            "Could you put me in touch with someone who might help us?",
            "Do you know anyone you could refer me to?",
        )),
        "other": ((
            "I think {aud} could get a lot out of our free family reading nights, and I'd love to reach "
            "whoever plans events on your side so they can add one to their calendar if it's useful.",
            "If someone near you handles community partnerships, our free tutoring could save them real work: "
            "we bring the volunteers and the books, they only provide a room.",
            "Given {thing}, you probably know the people who would benefit most from our new bookmobile stops, "
            "and they'd get first pick of the times.",
        ), (
            "Would it help if I sent a short blurb you could forward to the right person? No worries at all if "
            "it's not a fit.",
            "If you know who'd be the right person, I'm happy to draft the note so it takes you thirty seconds.",
            "If anyone comes to mind, I can write something short that you could pass along whenever it suits "
            "you.",
        )),
    },
    "interview": {
        "self": ((
            "We're launching the next season of our podcast, Turning Pages, and we need six more guests to "
            "fill the spring lineup.",
            "Our podcast is growing fast, and I'm looking for guests who can help us reach more listeners and "
            "bring in new supporters for our programs.",
            "We're trying to double our podcast audience this year, and a well-known guest would really help "
            "us get there.",
        ), (
            "Would you be a guest on our show?",
            "Could you come on the podcast some time in the next two months? We really need to lock in our "
            "schedule.",
            "Would you be willing to record an episode with us?",
        )),
        "other": ((
            "I'd love to feature your work on {thing} on Turning Pages, our podcast about kids and reading. "
            "Our listeners are mostly teachers, librarians and parents, so it's a good way to get your work in "
            "front of people who would use it.",
            "It's a relaxed forty-minute conversation, recorded remotely at whatever time suits you. You'd get "
            "the full audio and a transcript to use however you like, and we'll link to anything you want to "
            "promote.",
            "Our listeners keep asking for people who know what {aud} actually need, and you'd be able to talk "
            "about {thing} in as much depth as you like.",
        ), (
            "Would you be up for it? Happy to work around your schedule, and if now isn't a good time, just "
            "say so.",
            "If you're interested, I can send a few questions in advance so you can see where it would go.",
            "If it sounds fun, tell me which weeks are easiest for you and I'll fit around them.",
        )),
    },
    "volunteering": {
        "self": ((
            "We need twelve more volunteer readers for Saturday mornings, or we'll have to cancel one of our "
            "sessions this summer.",
            "Help us reach our goal of fifty volunteers by June! Our programs only run because people give us "
            "their time.",
            "Our volunteer numbers dropped this spring and we're struggling to cover our weekday clubs.",
        ), (
            "Can you sign up for a shift?",
            "Could you give us two hours a month?",
            "Will you join our volunteer team this season?",
        )),
        "other": ((
            "Given {thing}, I think you'd really enjoy our reading buddies program. It's one hour a week, you "
            "pick the slot, and most volunteers tell us it's the best hour of their week.",
            "A lot of people with your background find that reading with a child once a week is a nice change "
            "of pace, and we give you everything you need, from the books to a short training.",
            "You'd be paired with the same young reader all term, so you get to see their progress for "
            "yourself.",
        ), (
            "Would you like to sit in on a session first and see if it's for you? No commitment at all.",
            "If it sounds like fun, tell me which day suits you and I'll hold a spot.",
            "Would you like to try one session and decide afterwards?",
        )),
    },
    "endorsement": {
        "self": ((
            "We're putting together our annual report and two grant applications, and we need a few "
            "testimonials from people who know our work.",
            "We'd like to feature some quotes on our new website, and I'm hoping you'd write a few sentences "
            "about us.",
        ), (
            "Could you send us two or three sentences by Friday?",
            "Would you write a short endorsement for us?",
            "Could you leave us a short review?",
        )),
        "other": ((
            "What you said about {thing} at the spring showcase stayed with me. If you're comfortable with it, "
            "we'd love to quote you, and the quote would link back to your work.",
            "To make it easy, I can draft a couple of lines based on what you've told us before, and you can "
            "change anything you like - it would also point {aud} toward {thing}.",
        ), (
            "Would that be okay with you? Totally fine to say no.",
            "If you'd like, I'll send a draft for you to edit whenever it suits you.",
        )),
    },
    "purchase": {
        "self": ((
            "Tickets for our autumn gala are on sale, and we need to sell 150 to break even this year.",
            "Our autumn gala is our biggest fundraiser of the year, and we still have twelve tables to fill "
            "before we can cover the costs.",
        ), (
            "Could you buy a ticket or two?",
            "Will you grab a table for our gala?",
            "Could you buy a few tickets for your team?",
        )),
        "other": ((
            "You'd get a table near the stage, and {aud} would be thanked in the programme. It's a fun evening: "
            "live music, a used-book auction and very good pie.",
            "The gala is a lovely night out, and a table would be a nice way to thank your team for the year.",
        ), (
            "Would you like me to hold a table for you? No pressure either way.",
            "If it suits you, I'll put a couple of seats aside until you decide.",
        )),
    },
}
_CLOSE = {
    "self": ("Thanks for considering it.", "Please let me know by the end of the week so we can plan.",
             "Any help would mean a lot to us.", "We really appreciate it."),
    "other": ("No pressure at all, and if it's not a fit, no worries.", "Happy to work around your schedule.",
              "Either way, thank you for everything you do for {aud}.",
              "And if there's ever anything we can do for you, just ask."),
}
_SIGNOFF = ("Best,", "Warmly,", "Thanks so much,", "All the best,", "With gratitude,", "Cheers,")
_SUBJECTS = {
    "donation": ("A small favour for the reading clubs", "Spring appeal - could you help?",
                 "Sponsoring a classroom library?", "Quick question about the book drive"),
    "meeting": ("Coffee in the next few weeks?", "20 minutes to compare notes?", "Could we find time to talk?",
                "Fall planning - a quick call?"),
    "introduction": ("Could you point me in the right direction?", "Intro request",
                     "Looking for the right contact", "A question about who to talk to"),
    "interview": ("Guest on Turning Pages?", "Would you come on our podcast?", "Podcast invitation: Turning Pages",
                  "Your work on Turning Pages"),
    "volunteering": ("Reading buddies this summer?", "An hour a week with a young reader",
                     "Volunteer readers needed", "Saturday mornings?"),
    "endorsement": ("A few words for our annual report?", "Testimonial request", "Could we quote you?"),
    "purchase": ("Autumn gala - save you a seat?", "Gala tables are open", "Tickets for the autumn gala"),
}

# Replies.  Each entry may use {sfirst} (the team member's first name) and {cname}/{cemail} (a colleague).
_REPLY_YES = {
    "donation": ("Just made a gift through the website. Keep up the great work!",
                 "Happy to help - I'll send a cheque this week.", "Count me in. I've set up a monthly gift."),
    "meeting": ("Sure - how about Tuesday the 14th at 10?", "Happy to! Thursday afternoon works for me.",
                "Yes, let's do it. Send me a couple of times."),
    "introduction": ("Of course. I'll write to her today and copy you.", "Happy to! Intro coming your way.",
                     "Yes - I know just the person. I'll connect you this week."),
    "interview": ("I'd be delighted to come on the show. Send me a few dates.", "Happy to! Count me in.",
                  "What fun - yes, I'd love to."),
    "volunteering": ("Count me in for Saturdays!", "Happy to! Sign me up for a shift.",
                     "Yes, I'd love to try a session."),
    "endorsement": ("Happy to. How about: 'Riverbend Literacy Project shows up every week, for every kid.' "
                    "Feel free to edit.", "Of course - send me your draft and I'll tweak it."),
    "purchase": ("We'll take a table for eight - send the invoice my way.", "Count me in for two tickets.",
                 "Happy to! Put us down for four tickets."),
}
_REPLY_NO = ("Thanks for thinking of me, but it's not a fit right now.",
             "I'm going to have to pass this time - my plate is very full this season.",
             "Unfortunately we've already committed our budget for the year.",
             "Not for me, I'm afraid, but good luck with it.")
_REPLY_MAYBE = ("Possibly - can you check back with me in a few weeks?",
                "Let me think about it and talk to my team.", "Maybe! It depends on the dates.")
_REPLY_QUESTION = {
    "donation": ("Is the donation tax-deductible?", "Can I give by cheque, or only online?"),
    "meeting": ("What would you want to cover? I only have a short window.",),
    "introduction": ("Can you tell me a bit more about what you're hoping to get from them?",),
    "interview": ("Who else have you had on the show?", "How long does the recording take?"),
    "volunteering": ("Can you tell me a bit more about the time commitment?", "Do I need a background check?"),
    "endorsement": ("Where would the quote appear?",),
    "purchase": ("What's included in a table?", "When is the gala exactly?"),
    "none": ("Can you tell me more?",),
}
_REPLY_REFERRAL = (
    "This isn't really my area - ask my colleague {cname} ({cemail}), who looks after our community "
    "partnerships.",
    "You'd be better off talking to {cname} on our team: {cemail}. Tell them I sent you.",
)
_REPLY_REFERRAL_FREEMAIL = (
    "I'm not the right person, but my friend {cname} might be - try {cemail}.",
)
_REPLY_UNSUB = ("Please take me off this list.", "Unsubscribe", "Please remove me from your mailing list. Thanks.")
_REPLY_COLLEAGUE = (
    "{pfirst} forwarded your note to me - I look after community partnerships at {org}.",
    "I'm answering on behalf of {pfirst}, who passed your email on to me.",
)
_TEAM_ACK = {
    "yes": ("Wonderful - thank you so much, {first}! I'll send over the details this week.",
            "Thank you, {first}! That's made my day. More soon."),
    "maybe": ("Of course - I'll check back in a few weeks. Thanks for considering it.",),
    "question": ("Great question. It's about an hour, and we can be flexible on timing. Happy to send more "
                 "details.", "Yes, absolutely - I'll send you the details in a separate note."),
    "no": ("Completely understand - thanks for letting me know, {first}.",),
    "referral": ("Thank you, {first}! I'll reach out to {cname}.",),
    "unsubscribe": ("Done - sorry for the bother, {first}.",),
}
_KIND_TOPIC = {"donation": "our spring appeal", "meeting": "getting together", "introduction": "the introduction",
               "interview": "the podcast", "volunteering": "volunteering with us", "endorsement": "the testimonial",
               "purchase": "the gala"}
_FOLLOWUP = (
    "Hi {first}, just bumping this to the top of your inbox in case it got buried.",
    "Hi {first} - following up on my note from last week. {restate}",
    "Hi {first}, I know things get busy, so I'm just checking whether you saw this. {restate}",
)
_FOLLOWUP_RESTATE = {"self": "We're still hoping to hear from you soon.",
                     "other": "No pressure at all - I just didn't want it to get lost."}

_HISTORY_IN_FIRST = (
    ("the books you offered", "Spare picture books",
     "Hi {sfirst}, I have two boxes of picture books my kids have outgrown. Would they be useful for your "
     "summer program? I could drop them off next week.",
     "Hi {first}, yes please - that's wonderful. Our office is open Tuesday to Friday, 9 to 4. Thank you for "
     "thinking of us!",
     "Great, I'll bring them by on Thursday."),
    ("the family reading night", "Family reading night",
     "Thank you for the family reading night on Friday. My son hasn't put his new book down since. Is there "
     "another one planned?",
     "Thank you so much for coming, {first}! The next one is in about six weeks; I'll make sure you get an "
     "invitation.",
     "Perfect, we'll be there."),
    ("your question about volunteering", "Volunteering question",
     "Hi, a friend told me you sometimes need readers for the after-school clubs. How does that work?",
     "Hi {first}, thanks for asking! Volunteers read with the same child once a week for a term, and we run a "
     "short training first. Here's our calendar of sessions: riverbend-literacy.org/join",
     "Thanks, that's really helpful."),
    ("the podcast episode on reading aloud", "Loved the reading-aloud episode",
     "I listened to your episode on reading aloud to toddlers and wanted to say thank you - it changed our "
     "bedtime routine.",
     "That's so lovely to hear, {first}. Thank you for taking the time to write.",
     None),
    ("the thank-you cards", "Thank-you cards from our class",
     "Our second graders loved the visit from your volunteers last week. They made thank-you cards - where "
     "should I send them?",
     "How kind! You can send them to 418 Mill Street, or I can pick them up next time I'm over.",
     "I'll drop them in the post today."),
)
_HISTORY_OUT_FIRST = (
    ("the reading room update", "A quick update",
     "Hi {first}, a quick update: the reading room you helped us set up served 140 kids this term. I thought "
     "you'd like to know.",
     "That's fantastic news, thanks for telling me."),
    ("the showcase", "Thank you for coming",
     "Hi {first}, thank you for coming to our reading showcase. The kids were thrilled to read to a full room.",
     "It was a joy. Thanks for having me!"),
    ("your donation of books", "Thank you",
     "Hi {first}, I wanted to say thank you for the books you dropped off. They've already found readers.",
     "So glad they're being used!"),
)
_ONEWAY_IN = (
    ("Do you take donated books?", "Hello, do you accept donations of used chapter books? We have a few boxes."),
    ("Volunteering?", "Hi there, I'd like to help out with reading sessions. Who should I talk to?"),
    ("Question about your tutoring", "Hi, is your tutoring open to kids outside Riverbend County?"),
    ("Partnership idea", "Hello, we run a small kids' art program and wondered if you'd like to collaborate."),
)
_GIVE_FIRST = (
    ("the article on summer reading loss", "An article you might like",
     "Hi {first}, I came across this piece on summer reading loss and thought of {thing} straight away - no need "
     "to reply, I just thought you'd find it useful: https://riverbend-literacy.org/blog/summer-slide"),
    ("the introduction I offered", "Someone you should meet?",
     "Hi {first}, I met someone at the library forum who is running a program very like {thing}. Would an "
     "introduction be useful? Happy to connect you if so, and no worries if not."),
    ("the spare picture books", "Spare books",
     "Hi {first}, we have a spare box of new picture books from the spring drive. If {aud} would enjoy them, "
     "I can drop them off whenever suits you - they're yours either way."),
    ("the podcast episode I sent", "Thought of you",
     "Hi {first}, we featured a listener question last week that made me think of {thing}. Here's the "
     "episode if you're curious: https://riverbend-literacy.org/podcast/42 - no reply needed."),
)
_GIVE_FIRST_REPLY = ("Thank you, this is great!", "How thoughtful - thanks for thinking of me.",
                     "Thanks! I'll take a look this weekend.")

_INTERNAL = (
    ("Spring appeal draft", "Here's my draft of the spring appeal. Can you both take a look before Thursday? I'm "
     "worried the second paragraph is too long.", "Looks good! I'd cut the bit about the board and lead with the "
     "kids."),
    ("Saturday coverage", "Who can cover the Eastgate club on Saturday? I'm at the school fair.",
     "I can do it. I'll bring the new box of readers."),
    ("Podcast schedule", "Updated podcast schedule is in the shared drive. Two recording slots still open.",
     "Thanks - I'll ask the Oak Hollow librarian about one of them."),
    ("Board packet", "Board packet is ready for review. Numbers are on page 4.", "Read it, all fine from me."),
    ("Gala seating", "Gala seating chart v3 attached in the drive. Please check your tables.",
     "Two of my guests swapped - fixed it."),
    ("Volunteer training dates", "Proposed training dates: the 3rd and the 17th. Any conflicts?",
     "The 17th is tricky for me, but I can do the 3rd."),
    ("Grant report due Friday", "Reminder that the Tallgrass report is due Friday. I still need the attendance "
     "numbers.", "Sending them tonight."),
    ("Bookmobile insurance", "The insurance renewal came in higher than expected. Let's talk on Monday.",
     "Ugh. OK, Monday it is."),
)
_NEWSLETTER_ITEMS = (
    "140 children are now reading with a volunteer every week.",
    "Our bookmobile added two new stops in Eastgate.",
    "The spring showcase filled the Millbrook Library auditorium.",
    "Turning Pages, our podcast, passed its fiftieth episode.",
    "Ten new volunteers finished their training this month.",
    "We gave away 1,200 books at the summer fair.",
)
_PARTNER_NEWS = (
    "Applications for the community grants round open on the first of next month.",
    "Save the date: the regional literacy network meets in the Millbrook Library auditorium.",
    "New this season: a free workshop series for volunteer tutors.",
    "Our board welcomed three new members this quarter.",
    "Thank you to everyone who came to the open house - over two hundred visitors.",
    "The annual report is out, with stories from twelve partner programs.",
    "Opening hours change next week; see the website for details.",
)
_OTHER_NEWSLETTERS = (
    ("Lantern Literacy Alliance", "news@lanternlit.org", "news.lanternlit.org", "Alliance News: {month}"),
    ("Tallgrass Community Giving", "updates@tallgrass-giving.org", "updates.tallgrass-giving.org",
     "Grant deadlines and news - {month}"),
    ("Millbrook Public Library", "events@millbrook-library.org", "events.millbrook-library.org",
     "This month at the library: {month}"),
)
_RECEIPTS = (
    ("TallyLedger", "receipts@tallyledger.com", "Your receipt from TallyLedger #{n}",
     "Thanks for your payment of $29.00 for TallyLedger Nonprofit (monthly).\nReceipt number: {n}\n"
     "Payment method: card ending 4417"),
    ("Quill & Pine Books", "orders@quillandpine.com", "Order confirmation #{n}",
     "Thank you for your order! 24 x assorted paperbacks (nonprofit discount applied).\nOrder total: $211.40\n"
     "Your order will be ready for pick-up on Friday."),
    ("PrintCraft Press", "noreply@printcraft-press.com", "Your print order #{n} has shipped",
     "Good news: your order (500 x flyers, A5, double-sided) has shipped.\nTracking number: PCP{n}"),
)

# Campaign plan for mass mail.  Offsets are fractions of the ask period.
# (offset, sender index, kind, focus, n recipients (lo, hi), tool or style, greeting style, html, subject)
_BLASTS = (
    (0.04, 0, "donation", "self", (26, 34), "Mailchimp Mandrill", "name", "alt",
     "Our Spring Reading Drive is here"),
    (0.18, 2, "volunteering", "self", (22, 28), "Mailmerge for Gmail", "name", None,
     "Volunteer readers needed this summer"),
    (0.34, 0, "purchase", "self", (30, 38), "Mailchimp Mandrill", "friend", "alt",
     "Autumn Gala tickets are on sale"),
    (0.45, 1, "interview", "other", (15, 20), "Mailmerge for Gmail", "name", None,
     "Your story on Turning Pages?"),
    (0.72, 0, "donation", "self", (34, 40), "Mailchimp Mandrill", "friend", "only",
     "Will you chip in $25 for back-to-school?"),
    (0.84, 0, "endorsement", "self", (18, 24), "Mailmerge for Gmail", "name", None,
     "Would you leave us a review?"),
    (0.94, 0, "donation", "other", (24, 30), "Mailchimp Mandrill", "name", "alt",
     "Choose where your gift goes this fall"),
)
_BLAST_BODY = {
    "Our Spring Reading Drive is here": (
        "Spring is here, and so is our Spring Reading Drive! Every year, hundreds of kids in Riverbend County fall "
        "behind in reading over the summer. Together we can change that.",
        "Our goal is to raise $20,000 by May 31 to keep our reading clubs open all summer. We're already halfway "
        "there, but we need your help to cross the finish line.",
        "Donate today: https://riverbend-literacy.org/give",
        "Every gift counts. Thank you for standing with us!"),
    "Volunteer readers needed this summer": (
        "We're recruiting fifty volunteer readers for our summer program, and we need you!",
        "Our summer clubs only run when we have enough readers, and right now we're short. Help us reach our "
        "goal by signing up for a weekly hour.",
        "Sign up here: https://riverbend-literacy.org/volunteer",
        "Together we can keep every club open this summer."),
    "Autumn Gala tickets are on sale": (
        "Join us on September 19 for the Riverbend Literacy Project Autumn Gala!",
        "Tickets are $75, and every seat helps us reach our goal of 150 guests. The gala is our biggest "
        "fundraiser of the year, and we can't do it without you.",
        "Buy your tickets today: https://riverbend-literacy.org/gala",
        "We hope to see you there!"),
    "Your story on Turning Pages?": (
        "Do you have a story about a book that changed things for a child you know? Turning Pages, our podcast, "
        "is looking for guests for next season.",
        "You'd get a relaxed conversation recorded at a time that suits you, and your story would reach about "
        "4,000 teachers, parents and librarians. You'd also get the audio to share with your own community.",
        "If you're interested, just reply and tell us a little about yourself.",
        "We'd love to hear from you."),
    "Will you chip in $25 for back-to-school?": (
        "Will you chip in $25 to help us hit our back-to-school goal?",
        "We need to raise $12,000 before September 15 to put a new book in every backpack at our partner "
        "schools. We're so close, and we need you to get us over the line.",
        "Donate today: https://riverbend-literacy.org/give",
        "Together we can make this the best school year yet."),
    "Would you leave us a review?": (
        "Would you leave us a review? We're applying for our biggest grant yet, and reviews from people like you "
        "help us show funders that our community trusts us.",
        "It only takes two minutes: https://riverbend-literacy.org/review",
        "Thank you for helping us grow!"),
    "Choose where your gift goes this fall": (
        "You've seen what a good book can do for a kid. This fall, you can choose exactly where your gift goes: "
        "a classroom, a branch library, or the bookmobile.",
        "You'll get a photo update from the children you helped before the holidays, and you can visit a "
        "session any time to see it for yourself.",
        "Choose your classroom: https://riverbend-literacy.org/choose",
        "Thank you for everything you do for the kids in your neighbourhood."),
}
# Single messages to many people: (offset, sender, kind, focus, style, subject, body)
_GROUP_ASKS = (
    (0.26, 2, "volunteering", "self", "bcc", "Can you help at the May book fair?",
     "Hi friends,\n\nOur May book fair is two weeks away and we're still short on helpers. We need people to set "
     "up tables on Friday evening and to run the reading tent on Saturday. Could you sign up for a shift? Here's "
     "the sheet: https://riverbend-literacy.org/bookfair\n\nWe really need the help this year, so anything you "
     "can give would be wonderful.\n\nThanks so much,\nPriya"),
    (0.55, 1, "introduction", "self", "bcc", "Know someone who'd be a great podcast guest?",
     "Hi everyone,\n\nWe're planning the next season of Turning Pages, and I'm looking for guest suggestions. Do "
     "you know a teacher, librarian or author who would be great on the show? An introduction would help us "
     "enormously - we're trying to grow the show this year.\n\nThanks,\nTheo"),
    (0.31, 0, "introduction", "self", "hi_all", "Quick ask: anyone know the Harborlight team?",
     "Hi all,\n\nQuick ask for this group: we're applying for the Harborlight Foundation's literacy fund this "
     "fall, and I'd love an introduction to anyone on their program team. If you know someone there, could you "
     "let me know? Even a name would help.\n\nThanks, all,\nMaya"),
)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# =============================================================================================================
# Low-level message building
# =============================================================================================================

def _add_months(dt: datetime, n: int) -> datetime:
    y, m = divmod(dt.month - 1 + n, 12)
    return dt.replace(year=dt.year + y, month=m + 1, day=min(dt.day, 28))


def _us_dst(when: datetime) -> bool:
    """US daylight saving time (second Sunday of March .. first Sunday of November), in UTC, roughly."""
    y = when.year
    mar = datetime(y, 3, 8, 8, tzinfo=UTC)
    mar += timedelta(days=(6 - mar.weekday()) % 7)
    nov = datetime(y, 11, 1, 7, tzinfo=UTC)
    nov += timedelta(days=(6 - nov.weekday()) % 7)
    return mar <= when < nov


def _team_tz(when: datetime) -> timezone:
    return timezone(timedelta(hours=-5 if _us_dst(when) else -6))


def _eu_dst(when: datetime) -> bool:
    """EU summer time: last Sunday of March 01:00 UTC .. last Sunday of October 01:00 UTC."""
    y = when.year
    mar = datetime(y, 3, 31, 1, tzinfo=UTC)
    mar -= timedelta(days=(mar.weekday() + 1) % 7)
    octo = datetime(y, 10, 31, 1, tzinfo=UTC)
    octo -= timedelta(days=(octo.weekday() + 1) % 7)
    return mar <= when < octo


def _person_tz(p: _Person, when: datetime) -> timezone:
    off = p.tz
    if off in (-480, -420, -360, -300, -240) and _us_dst(when):
        off += 60
    elif off in (0, 60, 120) and _eu_dst(when):
        off += 60
    return timezone(timedelta(minutes=off))


def _addr(name: str, email: str) -> str:
    return formataddr((name, email), charset="utf-8")


def _hdr_text(value: str) -> str:
    """Encode a free-text header (Subject) with RFC 2047 when it is not ASCII."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=76)


def _fold(name: str, items: list[str]) -> str:
    """Fold an address list header at commas."""
    line = f"{name}: "
    out = []
    for i, it in enumerate(items):
        piece = it + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) > 76 and line.strip() != f"{name}:":
            out.append(line.rstrip())
            line = " "
        line += piece + " "
    out.append(line.rstrip())
    return "\n".join(out)


def _fold_text(name: str, value: str) -> str:
    """Fold a long ASCII header value at spaces."""
    line = f"{name}: {value}"
    if len(line) <= 78 or "=?" in value:
        return line
    words = value.split(" ")
    out, cur = [], f"{name}:"
    for w in words:
        if len(cur) + 1 + len(w) > 76 and cur.strip() != f"{name}:":
            out.append(cur)
            cur = ""
        cur += " " + w
    out.append(cur)
    return "\n".join(out)


def _wrap(text: str) -> str:
    paras = text.split("\n")
    out = []
    for p in paras:
        if len(p) <= 76 or p.startswith(">"):
            out.append(p)
        else:
            out.append(textwrap.fill(p, 72, break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def _text_part(text: str, subtype: str = "plain", charset: str = "utf-8") -> tuple[list[str], str]:
    data = text.encode(charset)
    if data.isascii() and max((len(line) for line in text.split("\n")), default=0) < 900:
        cte, body, cs = "7bit", text, charset
    else:
        cte, body = "quoted-printable", quopri.encodestring(data).decode("ascii")
        cs = charset
    return [f'Content-Type: text/{subtype}; charset="{cs}"', f"Content-Transfer-Encoding: {cte}"], body


def _html_para(p: str) -> str:
    lines = p.split("\n")
    if len(lines) > 1 and all(len(x) > 45 for x in lines[:-1]) and not any(x.startswith(">") for x in lines):
        return _html.escape(" ".join(lines))  # a wrapped prose paragraph
    return _html.escape(p).replace("\n", "<br>\n")


def _html_of(text: str) -> str:
    paras = [p for p in text.split("\n\n") if p.strip()]
    inner = "\n".join("<p>" + _html_para(p) + "</p>" for p in paras)
    return ('<html><head><meta charset="utf-8"></head><body style="font-family: Georgia, serif;">\n'
            f"{inner}\n</body></html>")


def _assemble(headers: list[str], text: str, html: str | None = None, boundary: str = "",
              charset: str = "utf-8") -> bytes:
    """headers: already-encoded 'Name: value' strings.  html: None (plain), 'alt' or 'only'."""
    lines = list(headers)
    lines.append("MIME-Version: 1.0")
    if html is None:
        h, body = _text_part(text, "plain", charset)
        lines += h
    elif html == "only":
        h, body = _text_part(_html_of(text), "html", charset)
        lines += h
    else:
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        h1, b1 = _text_part(text, "plain", charset)
        h2, b2 = _text_part(_html_of(text), "html", charset)
        body = "\n".join([f"--{boundary}", *h1, "", b1.rstrip("\n"), f"--{boundary}", *h2, "", b2.rstrip("\n"),
                          f"--{boundary}--", ""])
    msg = "\n".join(lines) + "\n\n" + body
    if not msg.endswith("\n"):
        msg += "\n"
    return msg.encode("ascii").replace(b"\n", b"\r\n")


# The log-odds of an answer the generator draws from (plus a per-person and a per-ask noise): what the report's
# adjusted effects should recover from the sample mailbox (tests/test_analysis.py checks it).
ANSWER_LOG_ODDS = {
    "intercept": -3.3,
    "audience": {"personal": 1.9, "mass": 0.0},
    "focus": {"other": 0.9, "self": 0.0},
    "warmth": {"warm": 1.0, "lapsed": 0.9, "cold": 0.0},
    "ask_kind": {"donation": -0.35, "purchase": -0.45, "meeting": 0.15, "interview": 0.35, "introduction": 0.0,
                 "volunteering": -0.1, "endorsement": 0.1},
}


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _fmt_gmail_date(dt: datetime) -> str:
    h = dt.hour % 12 or 12
    return (f"{_DAYS[dt.weekday()][:3]}, {_MONTHS[dt.month - 1][:3]} {dt.day}, {dt.year} at "
            f"{h}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}")


def _fmt_outlook_date(dt: datetime) -> str:
    h = dt.hour % 12 or 12
    return (f"{_DAYS[dt.weekday()]}, {_MONTHS[dt.month - 1]} {dt.day}, {dt.year} {h}:{dt.minute:02d} "
            f"{'AM' if dt.hour < 12 else 'PM'}")


def _month_year(dt: datetime) -> str:
    return f"{_MONTHS[dt.month - 1]} {dt.year}"


# A reference to a sent message, enough to reply to it or quote it.
@dataclass
class _Ref:
    mid: str
    refs: tuple[str, ...]
    subject: str
    from_name: str
    from_addr: str
    to_line: str
    when: datetime
    tz: timezone
    text: str  # the plain text the sender wrote (without quotes)


def _strip_re(subject: str) -> str:
    s = subject
    while True:
        low = s.lower()
        for pre in ("re: ", "fwd: ", "following up: "):
            if low.startswith(pre):
                s = s[len(pre):]
                break
        else:
            return s


# =============================================================================================================
# One world: a pool of people and ~8 months of asks plus their history
# =============================================================================================================

class _World:
    def __init__(self, seed: int, cycle: int, start: datetime, months: int, quirks: bool):
        self.rng = random.Random(f"riverbend-samplegen:{seed}:{cycle}")
        self.cycle = cycle
        self.start = start.astimezone(UTC)
        self.as_of = _add_months(self.start, months)
        self.hist_start = _add_months(self.start, -26)
        self.ask_end = self.as_of - timedelta(days=7)
        self.quirks = quirks
        self.counter = 0
        self.people: list[_Person] = []
        self.by_email: dict[str, _Person] = {}
        self.inbound_human = 0
        self.quirk_done = {"nodate": False, "baddate": False}
        self.ooo_sent: set = set()  # (email, thread root) pairs - bounded by the world's asks
        self.special_ooo = {"de": 0, "fr": 0, "plain": 0}
        self.in_asks = False  # the date quirks go on replies to asks

    # ---------------------------------------------------------------- helpers
    def _mid(self, domain: str, when: datetime) -> str:
        self.counter += 1
        return (f"<{when:%Y%m%d%H%M%S}.{self.cycle:x}{self.counter:05x}."
                f"{self.rng.getrandbits(32):08x}@{domain}>")

    def _boundary(self) -> str:
        return f"==rb_{self.cycle:x}_{self.counter:05x}_{self.rng.getrandbits(40):010x}=="

    def _suffix(self) -> str:
        return str(self.cycle) if self.cycle else ""

    def _local_time(self, day: datetime, tz: timezone, evening: float = 0.12) -> datetime:
        """A plausible sending time on `day` (a UTC date) in local time zone `tz`, returned in UTC."""
        r = self.rng.random()
        hour = self.rng.randint(19, 22) if r < evening else self.rng.randint(8, 17)
        local = datetime(day.year, day.month, day.day, hour, self.rng.randint(0, 59), self.rng.randint(0, 59),
                         tzinfo=tz)
        return local.astimezone(UTC)

    def _rand_day(self, lo: datetime, hi: datetime) -> datetime:
        span = max(1, int((hi - lo).total_seconds() // 86400))
        d = lo + timedelta(days=self.rng.randrange(span))
        if d.weekday() >= 5 and self.rng.random() < 0.8:  # mostly weekdays
            d += timedelta(days=7 - d.weekday())
        return d

    def _awake(self, p: _Person | None, t: datetime) -> datetime:
        """Move a human's send time out of the small hours of their own time zone (p=None: the team's)."""
        local = t.astimezone(_person_tz(p, t) if p is not None else _team_tz(t))
        if local.hour < 7:
            t += timedelta(hours=7 - local.hour, minutes=self.rng.randint(0, 90))
        elif local.hour >= 23:
            t += timedelta(hours=31 - local.hour, minutes=self.rng.randint(0, 90))
        return t

    def _delay(self) -> timedelta:
        if self.rng.random() < 0.06:
            return timedelta(days=self.rng.uniform(15, 30))
        hours = math.exp(self.rng.gauss(math.log(18), 1.1))
        return timedelta(hours=min(max(hours, 0.4), 240))

    # ---------------------------------------------------------------- people
    def build_people(self) -> None:
        rng = self.rng
        n = rng.randint(310, 350)
        used: set[str] = set()
        sfx = self._suffix()
        specials = list(_SPECIAL_PEOPLE)
        while len(self.people) < n:
            lang = "en"
            if specials and rng.random() < 0.05 or (specials and len(self.people) > n - len(specials)):
                first, last, local, forced, lang = specials.pop(0)
                domain = forced or (rng.choice(_FREEMAIL) if rng.random() < 0.5 else rng.choice(_ORGS[:25])[0])
            else:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                domain = rng.choice(_FREEMAIL) if rng.random() < 0.45 else rng.choice(_ORGS[:25])[0]
                if domain in _MAILHOST:
                    style = rng.random()
                    if style < 0.4:
                        local = f"{first}.{last}".lower()
                    elif style < 0.7:
                        local = f"{first}{last}{rng.randint(1, 99)}".lower()
                    else:
                        local = f"{first[0]}{last}".lower()
                else:
                    local = (f"{first}.{last}" if rng.random() < 0.7 else f"{first[0]}{last}").lower()
                local = local.replace("-", "")
            email = f"{local}{sfx}@{domain}"
            if email in used:
                continue
            used.add(email)
            org_t = _ORG_BY_DOMAIN.get(domain)
            if org_t:
                role = rng.choice(_ROLE_BY_ORGTYPE[org_t[2]])
                org = org_t[1]
                tz = org_t[3] if org_t[3] is not None else rng.choice(_US_TZ)
            else:
                role = rng.choice(_FREEMAIL_ROLES)
                org = None
                tz = rng.choice(_US_TZ) if rng.random() < 0.85 else rng.choice(_FAR_TZ)
            thing, aud, hooks = _role_details(rng, role, org)
            p = _Person(first=first, last=last, email=email, domain=domain, org=org, role=role,
                        title=rng.choice(_JOB_TITLE[role]), tz=tz, lang=lang, noise=rng.gauss(0, 0.55),
                        thing=thing, aud=aud, hooks=hooks, owner=rng.choice(TEAM))
            self.people.append(p)
            self.by_email[email] = p
        cats = ("warm",) * 28 + ("lapsed",) * 15 + ("oneway_out",) * 17 + ("oneway_in",) * 6 + ("none",) * 34
        for p in self.people:
            p.category = rng.choice(cats)
        # the two foreign-language people must be reachable by asks (they carry the German/French OOO)
        for p in self.people:
            if p.lang in ("de", "fr"):
                p.category = "none"

    def colleague_of(self, p: _Person) -> _Person:
        if p.colleague is None:
            rng = self.rng
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            if p.freemail:
                domain = rng.choice(_FREEMAIL)
            else:
                domain = p.domain
            email = f"{first}.{last}{self._suffix()}@{domain}".lower()
            if email in self.by_email:
                email = email.replace("@", f".{rng.randint(2, 9)}@")
            role = p.role
            org_t = _ORG_BY_DOMAIN.get(domain)
            p.colleague = _Person(first=first, last=last, email=email, domain=domain,
                                  org=org_t[1] if org_t else None, role=role, title=rng.choice(_JOB_TITLE[role]),
                                  tz=p.tz, lang=p.lang, noise=0.0, thing=p.thing, aud=p.aud, hooks=p.hooks)
        return p.colleague

    # ---------------------------------------------------------------- warmth
    def warmth(self, p: _Person, t: datetime) -> str:
        """warm: a two-way exchange wholly inside the 365 days before t; lapsed: only older ones."""
        recent = older = False
        for first, last, _topic in p.two_way:
            if last >= t:
                continue
            if first >= t - timedelta(days=365):
                recent = True
            else:
                older = True
        return "warm" if recent else ("lapsed" if older else "cold")

    def last_topic(self, p: _Person, t: datetime) -> tuple[datetime, str] | None:
        best = None
        for first, last, topic in p.two_way:
            if last < t and (best is None or last > best[0]):
                best = (last, topic)
        return best

    # ---------------------------------------------------------------- planning
    def plan(self) -> None:
        rng = self.rng
        period = (self.ask_end - self.start).total_seconds()
        self.asks: list[tuple] = []  # (when_day, type, payload)
        first_ask: dict[str, datetime] = {}
        person_asks: dict[str, list[datetime]] = {}

        def note(p: _Person, day: datetime) -> None:
            person_asks.setdefault(p.email, []).append(day)
            if p.email not in first_ask or day < first_ask[p.email]:
                first_ask[p.email] = day

        alive = self.people
        mailing = [p for p in alive if p.category != "oneway_in"]
        # mass blasts
        for off, s_i, kind, focus, (lo, hi), tool, greet, html, subject in _BLASTS:
            day = self.start + timedelta(seconds=period * off)
            day += timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)
            k = rng.randint(lo, hi)
            pool = [p for p in mailing if p.category in ("oneway_out", "none", "lapsed")]
            warmish = [p for p in mailing if p.category == "warm"]
            recips = rng.sample(pool, min(len(pool), k - k // 7)) + rng.sample(warmish, min(len(warmish), k // 7))
            rng.shuffle(recips)
            for p in recips:
                note(p, day)
            self.asks.append((day, "blast", (s_i, kind, focus, tool, greet, html, subject, recips)))
        for off, s_i, kind, focus, style, subject, body in _GROUP_ASKS:
            day = self.start + timedelta(seconds=period * off)
            day += timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)
            if style == "bcc":
                recips = rng.sample([p for p in mailing if p.category != "warm"], rng.randint(22, 38))
            else:
                recips = rng.sample([p for p in mailing if p.category in ("warm", "lapsed")], 8)
            for p in recips:
                note(p, day)
            self.asks.append((day, "group", (s_i, kind, focus, style, subject, body, recips)))
        # personal asks
        weights = {"warm": 1.6, "lapsed": 1.0, "oneway_out": 0.8, "oneway_in": 1.0, "none": 0.9}
        w = [weights[p.category] for p in alive]
        target = rng.randint(245, 265)
        n_personal = 0
        tries = 0
        while n_personal < target and tries < target * 20:
            tries += 1
            p = rng.choices(alive, weights=w)[0]
            day = self._rand_day(self.start, self.ask_end)
            mine = person_asks.get(p.email, [])
            if sum(1 for d in mine if d is not None) >= 3 or any(abs((d - day).days) < 21 for d in mine):
                continue
            kind = rng.choices(KINDS, weights=_KIND_WEIGHTS[p.role])[0]
            sender = TEAM[rng.choices(range(3), weights=_SENDER_BY_KIND[kind])[0]]
            if rng.random() < 0.35:
                sender = p.owner if _SENDER_BY_KIND[kind][TEAM.index(p.owner)] > 0 else sender
            focus = "other" if rng.random() < _OTHER_FOCUS_P[sender] else "self"
            note(p, day)
            self.asks.append((day, "personal", (p, kind, focus, sender)))
            n_personal += 1
        # make sure the German and French people get a personal ask (for their auto-replies)
        for p in alive:
            if p.lang in ("de", "fr") and not any(a[1] == "personal" and a[2][0] is p for a in self.asks):
                day = self._rand_day(self.start + timedelta(days=30), self.ask_end)
                note(p, day)
                self.asks.append((day, "personal", (p, "interview", "other", TEAM[1])))
        self.asks.sort(key=lambda a: (a[0], a[1]))
        self.first_ask = first_ask

        # dead addresses: people with few messages, not warm; aim at ~14 bounced messages
        n_msgs = {e: len(v) for e, v in person_asks.items()}
        candidates = [p for p in alive if p.category in ("none", "oneway_out", "lapsed") and p.lang == "en"
                      and 1 <= n_msgs.get(p.email, 0) <= 2]
        rng.shuffle(candidates)
        target_b = rng.randint(12, 16)
        total = 0
        for p in candidates:
            if total >= target_b:
                break
            if total + n_msgs[p.email] > target_b + 1:
                continue
            p.dead = True
            total += n_msgs[p.email]
        # soft bounces: one (person, day) each
        soft = [p for p in candidates if not p.dead][:2]
        self.soft = {p.email: (sorted(person_asks[p.email])[0], i) for i, p in enumerate(soft)}

        # out-of-office windows, around a planned ask so they fire
        live = [p for p in alive if not p.dead and p.email in person_asks]
        ooo_people = rng.sample(live, min(len(live), 22))
        ooo_people += [p for p in live if p.lang in ("de", "fr") and p not in ooo_people]
        styles = ["both", "auto", "xauto", "both", "auto", "both", "xauto", "auto"]
        n_plain = 0
        for i, p in enumerate(ooo_people):
            day = rng.choice(person_asks[p.email])
            a = day - timedelta(days=rng.randint(1, 4))
            b = day + timedelta(days=rng.randint(4, 14))
            if p.lang != "en":
                style = "auto"
            elif n_plain < 2 and i >= 3:
                style, n_plain = "plain", n_plain + 1
            else:
                style = styles[i % len(styles)]
            p.ooo.append((a, b, style, rng.random() < 0.7))

    # ---------------------------------------------------------------- message constructors
    def _emit_ok(self, when: datetime) -> bool:
        return self.hist_start <= when < self.as_of

    def out(self, sender: str, to: list[_Person], when: datetime, subject: str, text: str, *,
            cc: list = (), cc_team: tuple = (), bcc: list = (), to_header: str | None = None,
            reply: _Ref | None = None, extra: list[str] = (), html: str | None = None,
            truth: dict | None = None, keep_refs: bool = True, own: str | None = None) \
            -> tuple[SampleMessage, _Ref]:
        when = when.replace(microsecond=0)
        tz = _team_tz(when)
        mid = self._mid(TEAM_DOMAIN, when)
        h = [f"Date: {format_datetime(when.astimezone(tz))}",
             f"From: {_addr(_team_display(sender), sender)}"]
        to_items = [_addr(p.name, p.email) for p in to]
        if to_header:
            h.append(f"To: {to_header}")
        else:
            h.append(_fold("To", to_items))
        cc_items = [_addr(p.name, p.email) for p in cc] + [_addr(_team_display(a), a) for a in cc_team]
        if cc_items:
            h.append(_fold("Cc", cc_items))
        if bcc:
            h.append(_fold("Bcc", [_addr(p.name, p.email) for p in bcc]))
        h.append(_fold_text("Subject", _hdr_text(subject)))
        h.append(f"Message-ID: {mid}")
        refs: tuple[str, ...] = ()
        if reply is not None:
            refs = reply.refs + (reply.mid,)
            if keep_refs:
                h.append(f"In-Reply-To: {reply.mid}")
                h.append(_fold("References", list(refs[-6:])).replace(",", ""))
        h += list(extra)
        raw = _assemble(h, text, html, self._boundary() if html == "alt" else "")
        msg = SampleMessage("Sent", when, raw, truth)
        to_line = ", ".join(f"{p.name} <{p.email}>" for p in to) if not to_header else to_header
        ref = _Ref(mid, refs, subject, _team_display(sender), sender, to_line, when, tz, own or text)
        return msg, ref

    def inbound(self, frm: _Person, to_addr: str, when: datetime, subject: str, text: str, *,
                reply: _Ref | None = None, keep_refs: bool = True, extra: list[str] = (),
                html: str | None = None, charset: str = "utf-8", cc: list[str] = (),
                from_header: str | None = None, human: bool = True, own: str | None = None) \
            -> tuple[SampleMessage, _Ref]:
        when = when.replace(microsecond=0)
        tz = _person_tz(frm, when)
        mid = self._mid(frm.domain, when)
        date = format_datetime(when.astimezone(tz))
        rec = (f"Received: from {frm.mailhost} ({frm.mailhost} [198.51.100.{(self.counter * 7) % 250 + 2}])\n"
               f"\tby mx.riverbend-literacy.org (Postfix) with ESMTPS id {self.counter * 7919 % 0xFFFFFF:06X}"
               f"{self.cycle:02X}\n\tfor <{to_addr}>; {date}")
        h = [rec]
        date_hdr = f"Date: {date}"
        if human and self.quirks and reply is not None and self.in_asks:
            self.inbound_human += 1
            if self.inbound_human == 7 and not self.quirk_done["nodate"]:
                date_hdr, self.quirk_done["nodate"] = None, True
            elif self.inbound_human == 23 and not self.quirk_done["baddate"]:
                date_hdr, self.quirk_done["baddate"] = "Date: Thursday the 31st, half past noon (local)", True
        if date_hdr:
            h.append(date_hdr)
        h.append(f"From: {from_header or _addr(frm.name, frm.email)}")
        h.append(f"To: {_addr(_team_display(to_addr), to_addr) if to_addr in _TEAM_INFO else to_addr}")
        if cc:
            h.append(_fold("Cc", list(cc)))
        h.append(_fold_text("Subject", _hdr_text(subject)))
        h.append(f"Message-ID: {mid}")
        refs: tuple[str, ...] = ()
        if reply is not None:
            refs = reply.refs + (reply.mid,)
            if keep_refs:
                h.append(f"In-Reply-To: {reply.mid}")
                h.append(_fold("References", list(refs[-6:])).replace(",", ""))
        h += list(extra)
        raw = _assemble(h, text, html, self._boundary() if html == "alt" else "", charset)
        msg = SampleMessage("INBOX", when, raw, None)
        ref = _Ref(mid, refs, subject, frm.name, frm.email, to_addr, when, tz, own or text)
        return msg, ref

    # ---------------------------------------------------------------- reply text helpers
    def _quote(self, own: str, orig: _Ref, style: str) -> str:
        if style == "none":
            return own
        if style == "outlook":
            block = (f"-----Original Message-----\nFrom: {orig.from_name} <{orig.from_addr}>\n"
                     f"Sent: {_fmt_outlook_date(orig.when.astimezone(orig.tz))}\nTo: {orig.to_line}\n"
                     f"Subject: {orig.subject}\n\n{orig.text}")
            return f"{own}\n\n{block}"
        quoted = "\n".join((">" if not line else "> " + line) for line in orig.text.split("\n"))
        attribution = (f"On {_fmt_gmail_date(orig.when.astimezone(orig.tz))} {orig.from_name} "
                       f"<{orig.from_addr}> wrote:")
        if style == "bottom":
            return f"{attribution}\n{quoted}\n\n{own}"
        return f"{own}\n\n{attribution}\n{quoted}"

    def _person_sig(self, p: _Person) -> str:
        r = self.rng.random()
        if r < 0.35:
            return p.first
        if r < 0.55:
            return f"{p.first}\n\nSent from my iPhone"
        org = f", {p.org}" if p.org else ""
        return f"{p.first} {p.last}\n{p.title}{org}"

    def human_reply(self, p: _Person, orig: _Ref, when: datetime, own_text: str, team_addr: str,
                    cc: list[str] = (), author: _Person | None = None) -> tuple[SampleMessage, _Ref]:
        rng = self.rng
        author = author or p
        r = rng.random()
        style = "gmail" if r < 0.5 else ("outlook" if r < 0.72 else ("bottom" if r < 0.85 else "none"))
        subject = ("RE: " if style == "outlook" else "Re: ") + _strip_re(orig.subject)
        body = _wrap(f"Hi {_TEAM_INFO[team_addr][0]},\n\n{own_text}\n\n{self._person_sig(author)}")
        if style == "bottom":
            body = _wrap(f"{own_text}\n\n{self._person_sig(author)}")
        text = self._quote(body, orig, style)
        keep = rng.random() >= 0.10
        extra = []
        html = None
        if style == "outlook":
            extra.append("X-Mailer: Microsoft Outlook 16.0")
            html = "alt" if rng.random() < 0.5 else None
        return self.inbound(author, team_addr, when, subject, text, reply=orig, keep_refs=keep, extra=extra,
                            html=html, cc=cc, own=body)

    # ---------------------------------------------------------------- auto-replies and bounces
    def ooo_for(self, p: _Person, when: datetime):
        for a, b, style, says_return in p.ooo:
            if a <= when <= b:
                return b, style, says_return
        return None

    def auto_reply(self, p: _Person, orig: _Ref, team_addr: str, until: datetime, style: str,
                   says_return: bool) -> SampleMessage | None:
        key = (p.email, orig.refs[0] if orig.refs else orig.mid)
        if key in self.ooo_sent:
            return None
        self.ooo_sent.add(key)
        when = orig.when + timedelta(minutes=self.rng.uniform(0.5, 25))
        back = until + timedelta(days=1)
        back_local = back.astimezone(_person_tz(p, back))
        until_local = until.astimezone(_person_tz(p, until))
        base = _strip_re(orig.subject)
        extra: list[str] = []
        charset = "utf-8"
        if p.lang == "de":
            subject = f"Abwesenheitsnotiz: {base}"
            text = (f"Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich {until_local.day}."
                    f"{until_local.month}.{until_local.year} nicht im Büro und habe nur eingeschränkt Zugriff auf "
                    f"meine E-Mails. In dringenden Fällen wenden Sie sich bitte an info@{p.domain}.\n\n"
                    f"Mit freundlichen Grüßen\n{p.name}")
            self.special_ooo["de"] += 1
        elif p.lang == "fr":
            subject = f"Réponse automatique : {base}"
            text = (f"Bonjour,\n\nJe suis absente du bureau jusqu'au {until_local.day}/{until_local.month:02d}/"
                    f"{until_local.year} inclus, avec un accès limité à mes e-mails. Pour toute demande urgente, "
                    f"merci d'écrire à contact@{p.domain}.\n\nCordialement,\n{p.name}")
            charset = "iso-8859-1"
            self.special_ooo["fr"] += 1
        else:
            subject = self.rng.choice(("Out of Office: ", "Automatic reply: ", "Out of Office: ",
                                       "Away: ")) + base
            if says_return:
                text = (f"Thank you for your email. I'm out of the office until {_DAYS[back_local.weekday()]}, "
                        f"{_MONTHS[back_local.month - 1]} {back_local.day}, with limited access to email. I'll "
                        f"reply when I'm back.\n\n{p.first}")
            else:
                text = (f"Thanks for your message. I'm away at the moment and will get back to you as soon as "
                        f"I can.\n\n{p.name}")
        if style in ("both", "auto"):
            extra.append("Auto-Submitted: auto-replied")
        if style in ("both", "xauto"):
            extra.append("X-Autoreply: yes")
        if style == "plain":
            self.special_ooo["plain"] += 1
        if style != "plain" and self.rng.random() < 0.5:
            extra.append("Precedence: auto_reply" if self.rng.random() < 0.5 else "X-Auto-Response-Suppress: All")
        msg, _ = self.inbound(p, team_addr, when, subject, _wrap(text), reply=orig, extra=extra, charset=charset,
                              human=False)
        return msg

    def bounce(self, p: _Person, orig_raw: bytes, orig: _Ref, team_addr: str, soft: int | None) -> SampleMessage:
        rng = self.rng
        host = p.mailhost
        if soft is None:
            when = orig.when + timedelta(seconds=rng.uniform(3, 90))
            action, status = "failed", "5.1.1"
            diag = rng.choice((
                f"smtp; 550 5.1.1 <{p.email}>: Recipient address rejected: User unknown in virtual mailbox table",
                "smtp; 550 5.1.1 The email account that you tried to reach does not exist.",
                f"smtp; 550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
            ))
            human = ("I'm sorry to have to inform you that your message could not be delivered to one or more "
                     "recipients. It's attached below.\n\nFor further assistance, please contact your postmaster."
                     f"\n\n<{p.email}>: host {host} said: {diag.split('; ', 1)[1]}")
            subject = "Undelivered Mail Returned to Sender"
        elif soft == 0:
            when = orig.when + timedelta(hours=rng.uniform(4, 5))
            action, status = "delayed", "4.2.2"
            diag = f"smtp; 452 4.2.2 <{p.email}>: Mailbox full"
            human = ("This is a delivery status notification, NOT an error.\n\nYour message could not yet be "
                     "delivered. The mail system will keep trying for up to 5 days.\n\n"
                     f"<{p.email}>: host {host} said: 452 4.2.2 Mailbox full")
            subject = "Delayed Mail (still being retried)"
        else:
            when = orig.when + timedelta(days=5, minutes=rng.uniform(1, 50))
            action, status = "failed", "4.4.7"
            diag = "smtp; 421 4.4.7 Message expired: unable to deliver in 120 hours"
            human = ("Your message could not be delivered within the retry period and has been returned.\n\n"
                     f"<{p.email}>: delivery temporarily suspended: connection timed out")
            subject = "Undelivered Mail Returned to Sender"
        when = when.replace(microsecond=0)
        tz = _person_tz(p, when)
        date = format_datetime(when.astimezone(tz))
        mid = self._mid(host, when)
        bnd = self._boundary()
        head_end = orig_raw.find(b"\r\n\r\n")
        orig_headers = orig_raw[:head_end].decode("ascii").replace("\r\n", "\n")
        kept, skip = [], False
        for line in orig_headers.split("\n"):  # the transmitted copy never carried the Bcc header
            if line[:1] in (" ", "\t"):
                if not skip:
                    kept.append(line)
                continue
            skip = line.lower().startswith("bcc:")
            if not skip:
                kept.append(line)
        orig_headers = "\n".join(kept)
        status_block = (f"Reporting-MTA: dns; {host}\nArrival-Date: {format_datetime(orig.when)}\n\n"
                        f"Final-Recipient: rfc822; {p.email}\nOriginal-Recipient: rfc822;{p.email}\n"
                        f"Action: {action}\nStatus: {status}\nRemote-MTA: dns; {host}\nDiagnostic-Code: {diag}")
        if action == "delayed":
            status_block += f"\nWill-Retry-Until: {format_datetime(orig.when + timedelta(days=5))}"
        lines = [
            f"Received: by mx.riverbend-literacy.org (Postfix)\n\tid {self.counter:06X}; {date}",
            f"Date: {date}",
            f"From: {_addr('Mail Delivery System', 'MAILER-DAEMON@' + host)}",
            f"To: {team_addr}",
            f"Subject: {subject}",
            f"Message-ID: {mid}",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{bnd}"',
        ]
        body = "\n".join([
            "This is a MIME-encapsulated message.", "",
            f"--{bnd}", "Content-Description: Notification", 'Content-Type: text/plain; charset="us-ascii"', "",
            f"This is the mail system at host {host}.\n\n" + _wrap(human), "",
            f"--{bnd}", "Content-Description: Delivery report", "Content-Type: message/delivery-status", "",
            status_block, "",
            f"--{bnd}", "Content-Description: Undelivered Message Headers", "Content-Type: text/rfc822-headers",
            "", orig_headers, "",
            f"--{bnd}--", "",
        ])
        raw = ("\n".join(lines) + "\n\n" + body).encode("ascii").replace(b"\n", b"\r\n")
        return SampleMessage("INBOX", when, raw, None)

    # ---------------------------------------------------------------- episodes: history and noise
    def _two_way(self, p: _Person, first: datetime, last: datetime, topic: str) -> None:
        p.two_way.append((first, last, topic))

    def history_episode(self, p: _Person, day: datetime) -> list[SampleMessage]:
        """A two-way exchange with p starting on `day`."""
        rng = self.rng
        out: list[SampleMessage] = []
        team = p.owner
        tfirst = _TEAM_INFO[team][0]
        if rng.random() < 0.6:
            topic, subj, t1, t2, t3 = rng.choice(_HISTORY_IN_FIRST)
            w1 = self._local_time(day, _person_tz(p, day))
            m1, r1 = self.inbound(p, team, w1, subj,
                                  _wrap(t1.format(sfirst=tfirst) + "\n\n" + self._person_sig(p)))
            out.append(m1)
            w2 = self._awake(None, w1 + self._delay() / 3)
            body = _wrap(f"{t2.format(first=p.first)}\n\n{tfirst}\n\n{_signature(team)}")
            m2, r2 = self.out(team, [p], w2, "Re: " + subj, self._quote(body, r1, "gmail"), reply=r1, own=body)
            out.append(m2)
            last = w2
            if t3 and rng.random() < 0.6:
                w3 = self._awake(p, w2 + self._delay() / 2)
                m3, _ = self.human_reply(p, r2, w3, t3, team)
                out.append(m3)
                last = w3
        else:
            topic, subj, t1, t2 = rng.choice(_HISTORY_OUT_FIRST)
            w1 = self._local_time(day, _team_tz(day))
            body = _wrap(f"{t1.format(first=p.first)}\n\n{tfirst}\n\n{_signature(team)}")
            truth = {"kind": "none", "audience": "personal", "focus": "other", "warmth": self.warmth(p, w1),
                     "recipients": [p.email], "answered_by": [p.email]}
            m1, r1 = self.out(team, [p], w1, subj, body, truth=truth)
            out.append(m1)
            w2 = self._awake(p, w1 + self._delay() / 2)
            m2, _ = self.human_reply(p, r1, w2, t2, team)
            out.append(m2)
            last = w2
            if not self._emit_ok(w2):
                truth["answered_by"] = []
        if all(self._emit_ok(m.when) for m in out):
            self._two_way(p, w1, last, topic)
            return out
        return [m for m in out if self._emit_ok(m.when)]

    def histories(self) -> Iterator[SampleMessage]:
        rng = self.rng
        lapsed_end = self.start - timedelta(days=400)
        for p in self.people:
            if p.category == "warm":
                fa = self.first_ask.get(p.email, self.as_of)
                lo = max(self.hist_start, fa - timedelta(days=330))
                hi = fa - timedelta(days=6)
                for _ in range(rng.choice((1, 1, 2, 2, 3))):
                    yield from self.history_episode(p, self._rand_day(lo, hi))
                if rng.random() < 0.3:  # some also have older history
                    yield from self.history_episode(p, self._rand_day(self.hist_start, lo))
            elif p.category == "lapsed":
                for _ in range(rng.choice((1, 1, 2))):
                    yield from self.history_episode(p, self._rand_day(self.hist_start, lapsed_end))
            elif p.category == "oneway_in":
                subj, text = rng.choice(_ONEWAY_IN)
                fa = self.first_ask.get(p.email, self.as_of)
                day = self._rand_day(max(self.hist_start, fa - timedelta(days=300)), fa - timedelta(days=10))
                w = self._local_time(day, _person_tz(p, day))
                m, _ = self.inbound(p, rng.choice(TEAM), w, subj, _wrap(f"{text}\n\n{self._person_sig(p)}"))
                if self._emit_ok(m.when):
                    yield m

    def newsletters(self) -> Iterator[SampleMessage]:
        """Our own newsletter (before the ask period): one-way outbound history."""
        rng = self.rng
        subs = [p for p in self.people if p.category in ("oneway_out", "warm", "lapsed", "none")]
        ones = [p for p in subs if p.category == "oneway_out"]
        others = [p for p in subs if p.category != "oneway_out"]
        month = _add_months(self.hist_start, 2)
        while month < self.start - timedelta(days=20):
            recips = [p for p in ones if rng.random() < 0.5] + [p for p in others if rng.random() < 0.05]
            day = self._rand_day(month, month + timedelta(days=6))
            when0 = self._local_time(day, _team_tz(day), evening=0)
            title = f"Riverbend Readers - {_month_year(month)} update"
            items = rng.sample(_NEWSLETTER_ITEMS, 3)
            for i, p in enumerate(recips):
                when = when0 + timedelta(seconds=17 * i)
                text = (f"Hi {p.first},\n\nHere's what's been happening at Riverbend Literacy Project:\n\n"
                        + "\n".join(f"* {it}" for it in items)
                        + "\n\nThank you for being part of our community.\n\nMaya and the Riverbend team\n\n"
                        "Riverbend Literacy Project, 418 Mill Street, Riverbend\nUnsubscribe: "
                        f"https://riverbend-literacy.org/unsubscribe?u={self.cycle:x}{self.counter:06x}")
                truth = {"kind": "none", "audience": "mass", "focus": "self", "warmth": self.warmth(p, when),
                         "recipients": [p.email], "answered_by": []}
                token = f"{self.cycle:x}{self.counter:06x}"
                extra = [f"List-Unsubscribe: <https://riverbend-literacy.org/unsubscribe?u={token}>",
                         "Precedence: bulk", "X-Mailer: Mailchimp Mandrill"]
                m, _ = self.out(TEAM[0], [p], when, title, _wrap(text), extra=extra, html="alt", truth=truth)
                if self._emit_ok(m.when):
                    yield m
            month = _add_months(month, rng.choice((3, 4, 5)))

    def noise(self) -> Iterator[SampleMessage]:
        rng = self.rng
        month = self.hist_start
        n = 0
        while month < self.as_of:
            for name, addr, list_id, subj in _OTHER_NEWSLETTERS:
                if rng.random() < 0.45:
                    continue
                day = self._rand_day(month, month + timedelta(days=25))
                when = self._local_time(day, _team_tz(day), evening=0)
                local, domain = addr.split("@")
                frm = _Person(first=name, last="", email=addr, domain=domain, org=name, role="peer", title="",
                              tz=-300, lang="en", noise=0, thing="", aud="", hooks=())
                items = rng.sample(_PARTNER_NEWS, 2)
                text = (f"{name} - news for {_month_year(month)}\n\n" + "\n\n".join(items)
                    + f"\n\nYou are receiving this because you subscribed to {name} updates.\n"
                    f"Unsubscribe: https://{domain}/unsubscribe")
                extra = [f"List-Id: {name} <{list_id}>",
                         f"List-Unsubscribe: <https://{domain}/unsubscribe>, <mailto:leave@{domain}>",
                         "Precedence: list"]
                m, _ = self.inbound(frm, TEAM[rng.randrange(3)], when, subj.format(month=_month_year(month)),
                                    _wrap(text), extra=extra, html="only" if rng.random() < 0.5 else "alt",
                                    from_header=_addr(name, addr), human=False)
                if self._emit_ok(m.when):
                    yield m
            if month >= _add_months(self.start, -8):
                name, addr, subj, text = rng.choice(_RECEIPTS)
                n += 1
                num = 41000 + n * 37 + self.cycle
                day = self._rand_day(month, month + timedelta(days=25))
                when = self._local_time(day, _team_tz(day), evening=0)
                domain = addr.split("@")[1]
                frm = _Person(first=name, last="", email=addr, domain=domain, org=name, role="business", title="",
                              tz=-300, lang="en", noise=0, thing="", aud="", hooks=())
                m, _ = self.inbound(frm, TEAM[0], when, subj.format(n=num), text.format(n=num),
                                    from_header=_addr(name, addr), human=False)
                if self._emit_ok(m.when):
                    yield m
            month = _add_months(month, 2 if month < self.start else 1)

    def internal(self) -> Iterator[SampleMessage]:
        rng = self.rng
        for k in range(rng.randint(16, 22)):
            subj, t1, t2 = rng.choice(_INTERNAL)
            a, b = rng.sample(TEAM, 2)
            day = self._rand_day(_add_months(self.start, -10), self.as_of - timedelta(days=2))
            w1 = self._local_time(day, _team_tz(day), evening=0.05)
            others = [x for x in TEAM if x != a]
            to = [_Person(first=_TEAM_INFO[x][0], last=_TEAM_INFO[x][1], email=x, domain=TEAM_DOMAIN, org=None,
                          role="peer", title="", tz=-300, lang="en", noise=0, thing="", aud="", hooks=())
                  for x in (others if rng.random() < 0.5 else [b])]
            m1, r1 = self.out(a, to, w1, subj, _wrap(f"{t1}\n\n{_TEAM_INFO[a][0]}"))
            if self._emit_ok(m1.when):
                yield m1
            w2 = w1 + timedelta(minutes=rng.uniform(10, 600))
            back = [_Person(first=_TEAM_INFO[a][0], last=_TEAM_INFO[a][1], email=a, domain=TEAM_DOMAIN, org=None,
                            role="peer", title="", tz=-300, lang="en", noise=0, thing="", aud="", hooks=())]
            own = _wrap(f"{t2}\n\n{_TEAM_INFO[b][0]}")
            m2, _ = self.out(b, back, w2, "Re: " + subj, self._quote(own, r1, "gmail"), reply=r1, own=own)
            if self._emit_ok(m2.when):
                yield m2

    def give_firsts(self) -> Iterator[SampleMessage]:
        rng = self.rng
        for day, typ, payload in self.asks:
            if typ != "personal":
                continue
            p, kind, focus, sender = payload
            if p.category != "warm" or rng.random() > 0.35:
                continue
            gday = day - timedelta(days=rng.randint(7, 25))
            w = self._local_time(gday, _team_tz(gday))
            topic, subj, text = rng.choice(_GIVE_FIRST)
            body = _wrap(f"{text.format(first=p.first, thing=p.thing, aud=p.aud)}\n\n{_TEAM_INFO[sender][0]}\n\n"
                         f"{_signature(sender)}")
            truth = {"kind": "none", "audience": "personal", "focus": "other", "warmth": self.warmth(p, w),
                     "recipients": [p.email], "answered_by": []}
            m, r = self.out(sender, [p], w, subj, body, truth=truth)
            if not self._emit_ok(m.when):
                continue
            yield m
            if rng.random() < 0.4:
                w2 = self._awake(p, w + self._delay() / 2)
                if w2 < day:
                    m2, _ = self.human_reply(p, r, w2, rng.choice(_GIVE_FIRST_REPLY), sender)
                    truth["answered_by"] = [p.email]
                    self._two_way(p, w, w2, topic)
                    yield m2

    # ---------------------------------------------------------------- asks
    def _answer_p(self, p: _Person, audience: str, focus: str, warmth: str, kind: str) -> float:
        odds = ANSWER_LOG_ODDS
        x = odds["intercept"] + odds["audience"].get(audience, 0.0) + odds["focus"].get(focus, 0.0)
        x += odds["warmth"][warmth] + odds["ask_kind"][kind]
        x += p.noise + self.rng.gauss(0, 0.35)
        return _logistic(x)

    def _reply_kind(self, audience: str) -> str:
        if audience == "mass":
            return self.rng.choices(("yes", "no", "maybe", "question", "unsubscribe", "referral"),
                                    weights=(35, 15, 10, 10, 25, 5))[0]
        return self.rng.choices(("yes", "no", "maybe", "question", "referral"), weights=(45, 17, 14, 15, 9))[0]

    def _reply_text(self, p: _Person, kind: str, rkind: str, team_addr: str) -> tuple[str, _Person | None]:
        rng = self.rng
        if rkind == "yes":
            return rng.choice(_REPLY_YES.get(kind, ("Happy to!",))), None
        if rkind == "no":
            return rng.choice(_REPLY_NO), None
        if rkind == "maybe":
            return rng.choice(_REPLY_MAYBE), None
        if rkind == "question":
            return rng.choice(_REPLY_QUESTION[kind]), None
        if rkind == "unsubscribe":
            return rng.choice(_REPLY_UNSUB), None
        c = self.colleague_of(p)
        pool = _REPLY_REFERRAL_FREEMAIL if p.freemail else _REPLY_REFERRAL
        return rng.choice(pool).format(cname=c.name, cemail=c.email), c

    def respond(self, p: _Person, target: _Ref, t: datetime, kind: str, audience: str, focus: str,
                team_addr: str, answered_in_time: list, thread_last: list, cc_hi_all: list[str] = ()) \
            -> list[SampleMessage]:
        """The recipient's human reply (and maybe our answer to it).  `t` is the reply time."""
        rng = self.rng
        out: list[SampleMessage] = []
        rkind = self._reply_kind(audience)
        text, colleague = self._reply_text(p, kind, rkind, team_addr)
        author = p
        if colleague is not None and not p.freemail and rng.random() < 0.45:
            # the colleague answers directly
            author = colleague
            lead = rng.choice(_REPLY_COLLEAGUE).format(sfirst=_TEAM_INFO[team_addr][0], pfirst=p.first,
                                                       org=p.org or "our organisation")
            text = lead + " " + rng.choice(_REPLY_YES.get(kind, ("Happy to help.",)) + _REPLY_MAYBE)
            rkind = "colleague"
        t = self._awake(author, t)
        m, r = self.human_reply(p, target, t, text, team_addr, cc=cc_hi_all, author=author)
        if not self._emit_ok(m.when):
            return out
        out.append(m)
        answered_in_time.append(p.email)
        topic = _KIND_TOPIC.get(kind, "the note I sent")
        if rkind != "colleague":
            self._two_way(p, target.when, t, topic)
        # our answer
        if rng.random() < 0.7 and rkind in _TEAM_ACK or rkind == "colleague":
            ack_kind = rkind if rkind in _TEAM_ACK else "yes"
            ack = rng.choice(_TEAM_ACK[ack_kind]).format(first=author.first,
                                                         cname=colleague.name if colleague else "")
            w = self._awake(None, t + timedelta(hours=rng.uniform(0.5, 30)))
            own = _wrap(f"{ack}\n\n{_TEAM_INFO[team_addr][0]}\n\n{_signature(team_addr)}")
            body = self._quote(own, r, "gmail")
            m2, r2 = self.out(team_addr, [author], w, "Re: " + _strip_re(target.subject), body, reply=r,
                              own=own)
            if self._emit_ok(m2.when):
                out.append(m2)
                if rkind == "colleague":
                    self._two_way(author, t, w, topic)
        return out

    def deliver(self, p: _Person, msg: SampleMessage, ref: _Ref, team_addr: str) -> tuple[bool, list]:
        """Bounces and auto-replies for one copy.  Returns (delivered, extra messages)."""
        extra = []
        if p.dead:
            extra.append(self.bounce(p, msg.raw, ref, team_addr, None))
            return False, [m for m in extra if self._emit_ok(m.when)]
        soft = self.soft.get(p.email)
        if soft is not None and abs((soft[0] - ref.when).days) <= 1:
            extra.append(self.bounce(p, msg.raw, ref, team_addr, soft[1]))
            return False, [m for m in extra if self._emit_ok(m.when)]
        o = self.ooo_for(p, ref.when)
        if o is not None:
            a = self.auto_reply(p, ref, team_addr, *o)
            if a is not None:
                extra.append(a)
        return True, [m for m in extra if self._emit_ok(m.when)]

    def personal_ask(self, day: datetime, p: _Person, kind: str, focus: str, sender: str) -> list[SampleMessage]:
        rng = self.rng
        out: list[SampleMessage] = []
        when = self._local_time(day, _team_tz(day), evening=0.08)
        warmth = self.warmth(p, when)
        sf, sl, stitle = _TEAM_INFO[sender]
        fmt = dict(first=p.first, last=p.last, thing=p.thing, aud=p.aud, org=p.org or "your organisation",
                   sfirst=sf, slast=sl, stitle=stitle.split(",")[0].lower() if sender != TEAM[0] else
                   "executive director")
        if warmth == "warm":
            greet = rng.choice(_GREET_WARM)
            lt = self.last_topic(p, when)
            opener = rng.choice(_OPEN_WARM).format(topic=lt[1], month=_MONTHS[lt[0].month - 1])
        elif warmth == "lapsed":
            greet = rng.choice(_GREET_WARM)
            lt = self.last_topic(p, when)
            opener = rng.choice(_OPEN_LAPSED).format(topic=lt[1], month=_month_year(lt[0]))
        else:
            greet = rng.choice(_GREET_COLD)
            opener = rng.choice(_OPEN_COLD).format(**fmt)
            if p.category == "oneway_out" and rng.random() < 0.5:
                opener = f"You may know us from our newsletter - I'm {sf} at Riverbend Literacy Project."
        hook = rng.choice(p.hooks)
        paras, asks = _BODY[kind][focus]
        body_paras = rng.sample(paras, 2 if rng.random() < 0.35 else 1)
        close = rng.choice(_CLOSE[focus])
        first_para = f"{opener} {hook}" if rng.random() < 0.6 else f"{hook} {opener}"
        text = "\n\n".join([greet.format(**fmt), first_para, *[b.format(**fmt) for b in body_paras],
                            f"{rng.choice(asks)} {close.format(**fmt)}",
                            f"{rng.choice(_SIGNOFF)}\n{sf}", _signature(sender)])
        text = _wrap(text)
        subject = rng.choice(_SUBJECTS[kind])
        if rng.random() < 0.12:
            subject = f"{p.first} \u2014 {subject[0].lower()}{subject[1:]}"
        elif not p.first.isascii() and rng.random() < 0.5:
            subject = f"{subject} ({p.first})"
        cc_team = ()
        if rng.random() < 0.1:
            cc_team = (rng.choice([a for a in TEAM if a != sender]),)
        html = "alt" if rng.random() < 0.08 else None
        truth = {"kind": kind, "audience": "personal", "focus": focus, "warmth": warmth, "recipients": [p.email],
                 "answered_by": []}
        m, ref = self.out(sender, [p], when, subject, text, cc_team=cc_team, html=html, truth=truth)
        if not self._emit_ok(m.when):
            return out
        out.append(m)
        delivered, extra = self.deliver(p, m, ref, sender)
        out += extra
        if not delivered:
            return out
        answered = rng.random() < self._answer_p(p, "personal", focus, warmth, kind)
        reply_at = when + self._delay() if answered else None
        o = self.ooo_for(p, when)
        if reply_at is not None and o is not None and reply_at < o[0]:
            reply_at = o[0] + timedelta(hours=rng.uniform(10, 70))  # answers once back at work
        # follow-ups
        last = ref
        n_follow = 0
        f_at = when + timedelta(days=rng.uniform(4, 8))
        want = rng.random()
        max_follow = 2 if want < 0.15 else (1 if want < 0.5 else 0)
        while n_follow < max_follow and (reply_at is None or f_at < reply_at) and f_at < self.as_of:
            fday = f_at
            fw = self._local_time(fday, _team_tz(fday), evening=0.03)
            if fw <= last.when:
                fw = last.when + timedelta(days=3)
            ftext = rng.choice(_FOLLOWUP).format(first=p.first, restate=_FOLLOWUP_RESTATE[focus])
            fown = _wrap(f"{ftext}\n\n{sf}\n\n{_signature(sender)}")
            ftext = self._quote(fown, ref, "gmail")  # quotes the original ask
            fsubj = ("Re: " if rng.random() < 0.65 else "Following up: ") + _strip_re(subject)
            fm, fref = self.out(sender, [p], fw, fsubj, ftext, reply=last, own=fown)
            if not self._emit_ok(fm.when):
                break
            out.append(fm)
            _, extra = self.deliver(p, fm, fref, sender)
            out += extra
            last = fref
            n_follow += 1
            f_at = fw + timedelta(days=rng.uniform(5, 9))
        if reply_at is not None:
            answered_by: list[str] = []
            out += self.respond(p, last, reply_at, kind, "personal", focus, sender, answered_by, [])
            truth["answered_by"] = answered_by
        return out

    def blast(self, day: datetime, s_i: int, kind: str, focus: str, tool: str, greet: str, html: str | None,
              subject: str, recips: list[_Person]) -> list[SampleMessage]:
        rng = self.rng
        out: list[SampleMessage] = []
        sender = TEAM[s_i]
        when0 = self._local_time(day, _team_tz(day), evening=0)
        paras = _BLAST_BODY[subject]
        for i, p in enumerate(recips):
            when = when0 + timedelta(seconds=i * rng.randint(4, 40))
            warmth = self.warmth(p, when)
            token = f"{self.cycle:x}{self.counter:06x}{i:03x}"
            g = f"Hi {p.first}," if greet == "name" else "Dear Friend,"
            text = "\n\n".join([g, *paras, f"With gratitude,\n{_team_display(sender)} and the Riverbend team",
                                "Riverbend Literacy Project \u00b7 418 Mill Street, Riverbend\nYou're receiving "
                                "this because you subscribed at riverbend-literacy.org or came to one of our "
                                f"events.\nUnsubscribe: https://riverbend-literacy.org/unsubscribe?u={token}"])
            extra = [f"List-Unsubscribe: <mailto:unsubscribe+{token}@riverbend-literacy.org>,\n"
                     f" <https://riverbend-literacy.org/unsubscribe?u={token}>",
                     "Precedence: bulk", f"X-Mailer: {tool}"]
            truth = {"kind": kind, "audience": "mass", "focus": focus, "warmth": warmth, "recipients": [p.email],
                     "answered_by": []}
            m, ref = self.out(sender, [p], when, subject, _wrap(text), extra=extra, html=html, truth=truth)
            if not self._emit_ok(m.when):
                continue
            out.append(m)
            delivered, extra_msgs = self.deliver(p, m, ref, sender)
            out += extra_msgs
            if delivered and rng.random() < self._answer_p(p, "mass", focus, warmth, kind):
                t = when + self._delay()
                o = self.ooo_for(p, when)
                if o is not None:
                    t = max(t, o[0] + timedelta(hours=rng.uniform(10, 70)))
                answered_by: list[str] = []
                out += self.respond(p, ref, t, kind, "mass", focus, sender, answered_by, [])
                truth["answered_by"] = answered_by
        return out

    def group(self, day: datetime, s_i: int, kind: str, focus: str, style: str, subject: str, body: str,
              recips: list[_Person]) -> list[SampleMessage]:
        rng = self.rng
        out: list[SampleMessage] = []
        sender = TEAM[s_i]
        when = self._local_time(day, _team_tz(day), evening=0)
        warmths = [self.warmth(p, when) for p in recips]
        order = {"warm": 2, "lapsed": 1, "cold": 0}
        truth = {"kind": kind, "audience": "mass", "focus": focus,
                 "warmth": max(warmths, key=lambda w: order[w]), "recipients": [p.email for p in recips],
                 "answered_by": []}
        text = _wrap(f"{body}\n\n{_signature(sender)}")
        if style == "bcc":
            m, ref = self.out(sender, [], when, subject, text, bcc=recips, to_header="undisclosed-recipients:;",
                              truth=truth)
        else:
            m, ref = self.out(sender, recips[:5], when, subject, text, cc=recips[5:], truth=truth)
        if not self._emit_ok(m.when):
            return out
        out.append(m)
        answered_by: list[str] = []
        for p, w in zip(recips, warmths):
            delivered, extra = self.deliver(p, m, ref, sender)
            out += extra
            if delivered and rng.random() < self._answer_p(p, "mass", focus, w, kind) + 0.03:
                t = when + self._delay()
                cc = []
                if style == "hi_all" and rng.random() < 0.5:
                    cc = [_addr(q.name, q.email) for q in recips if q is not p]
                out += self.respond(p, ref, t, kind, "mass", focus, sender, answered_by, [], cc_hi_all=cc)
        truth["answered_by"] = answered_by
        return out

    def ask_episodes(self) -> Iterator[SampleMessage]:
        self.in_asks = True
        for day, typ, payload in self.asks:
            if typ == "personal":
                yield from self.personal_ask(day, *payload)
            elif typ == "blast":
                yield from self.blast(day, *payload)
            else:
                yield from self.group(day, *payload)

    def run(self) -> Iterator[SampleMessage]:
        self.build_people()
        self.plan()
        yield from self.histories()
        yield from self.newsletters()
        yield from self.give_firsts()
        yield from self.noise()
        yield from self.internal()
        yield from self.ask_episodes()


# =============================================================================================================
# Public API
# =============================================================================================================

def iter_messages(n_messages: int | None = None, seed: int = SAMPLE_SEED, start: datetime = SAMPLE_START,
                  months: int = 8) -> Iterator[SampleMessage]:
    """Stream messages episode by episode.

    n_messages=None: the committed sample (one world of ~330 people, asks from `start` for `months` months,
    history back to 26 months before `start`).  With n_messages=N: keep producing further worlds over the same
    period, each with its own bounded pool of people (distinct addresses), and stop after exactly N messages.
    Memory stays flat: only one world's people and plan are alive at a time, and no list of messages is kept.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if n_messages is not None and n_messages < 0:
        raise ValueError("n_messages must be >= 0")
    produced = 0
    cycle = 0
    while True:
        world = _World(seed, cycle, start, months, quirks=(cycle == 0))
        for msg in world.run():
            if n_messages is not None and produced >= n_messages:
                return
            produced += 1
            yield msg
        del world
        if n_messages is None or produced >= n_messages:
            return
        cycle += 1


def _malformed(seq_start: int) -> list[tuple[str, bytes]]:
    """A few broken files for INBOX/cur: empty, truncated, binary, unknown charset.  Deterministic."""
    rng = random.Random("riverbend-samplegen:malformed")
    base = int(datetime(2026, 6, 3, 14, 0, tzinfo=UTC).timestamp())
    truncated = ("Received: from mail.kettleworks.io (mail.kettleworks.io [198.51.100.77])\r\n"
                 "\tby mx.riverbend-literacy.org (Postfix) with ESMTPS id 9F1C20\r\n"
                 "\tfor <maya.okafor@riverbend-literacy.org>; Wed, 3 Jun 2026 09:12:40 -0500\r\n"
                 "Date: Wed, 3 Jun 2026 09:12:40 -0500\r\n"
                 "From: =?utf-8?q?Zo=C3=AB_Brandt?= <zoe.brandt@kettleworks.io>\r\n"
                 "To: Maya Okafor <maya.okafor@riverbend-literacy.org>\r\n"
                 "Subject: Re: Coffee in the next f").encode("ascii")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.getrandbits(8) for _ in range(2048)) + b"\x00" * 16
    unknown = ("Received: from mx1.lanternlit.org (mx1.lanternlit.org [198.51.100.91])\r\n"
               "\tby mx.riverbend-literacy.org (Postfix) with ESMTPS id 4A77B1\r\n"
               "\tfor <priya.raman@riverbend-literacy.org>; Thu, 4 Jun 2026 16:20:05 -0500\r\n"
               "Date: Thu, 4 Jun 2026 16:20:05 -0500\r\n"
               "From: Lantern Literacy Alliance <news@lanternlit.org>\r\n"
               "To: priya.raman@riverbend-literacy.org\r\n"
               "Subject: Partner update\r\n"
               "Message-ID: <broken-charset-20260604@lanternlit.org>\r\n"
               "MIME-Version: 1.0\r\n"
               'Content-Type: text/plain; charset="x-rb-unknown-8bit"\r\n'
               "Content-Transfer-Encoding: 8bit\r\n\r\n").encode("ascii")
    unknown += b"Hello Priya,\r\n\r\n" + bytes([0xC3, 0x28, 0xA0, 0xA1, 0xFF, 0xFE, 0x81, 0x8D]) * 6 + \
        b"\r\nThe partner meeting moved to Thursday \xe2\x28\xa1 room 4.\r\n"
    files = [(b"", "empty"), (truncated, "truncated"), (png, "binary"), (unknown, "charset")]
    out = []
    for i, (data, _label) in enumerate(files):
        out.append((f"{base + i * 3600}.M{seq_start + i:06d}P0.sample:2,S", data))
    return out


def _ensure_maildir(d: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)


def write_maildir(root: Path, messages: Iterable[SampleMessage], malformed: bool = True) -> int:
    """Write messages into a Maildir at `root` (INBOX) with a Maildir++ `.Sent` folder.

    File names are deterministic: ``cur/<epoch>.M<seq>P0.sample:2,S`` (seen); inbound mail from the last five
    days before SAMPLE_AS_OF goes to ``new/<epoch>.M<seq>P0.sample`` (unread).  Directories that would be
    empty get a ``.gitkeep`` (Maildir readers skip dot-files) so the layout survives a git checkout.
    Returns the number of message files written (including the broken ones when `malformed`)."""
    root = Path(root)
    sent = root / ".Sent"
    _ensure_maildir(root)
    _ensure_maildir(sent)
    (sent / "maildirfolder").touch()
    unread_from = SAMPLE_AS_OF - timedelta(days=5)
    n = 0
    for msg in messages:
        base = root if msg.folder == "INBOX" else sent
        epoch = int(msg.when.timestamp())
        if msg.folder == "INBOX" and unread_from <= msg.when < SAMPLE_AS_OF:
            path = base / "new" / f"{epoch}.M{n:06d}P0.sample"
        else:
            path = base / "cur" / f"{epoch}.M{n:06d}P0.sample:2,S"
        path.write_bytes(msg.raw)
        os.utime(path, (epoch, epoch))
        n += 1
    if malformed:
        for name, data in _malformed(n):
            path = root / "cur" / name
            path.write_bytes(data)
            n += 1
    for d in (root, sent):
        for sub in ("cur", "new", "tmp"):
            if not any((d / sub).iterdir()):
                (d / sub / ".gitkeep").touch()
    return n


def _envelope_sender(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace").replace("\r\n\t", " ").replace("\r\n ", " ")
    for line in head.split("\r\n"):
        if line.lower().startswith("from:"):
            addr = parseaddr(line[5:].strip())[1]
            if addr.upper().startswith("MAILER-DAEMON@"):
                return "MAILER-DAEMON"
            return addr or "unknown"
    return "unknown"


def write_mbox(path: Path, messages: Iterable[SampleMessage]) -> int:
    """Write all folders into one mbox (mboxrd: ">From " escaping).  Each message gets a From_ line with its
    sender and `when`, and an ``X-Gmail-Labels`` header (``Sent`` or ``Inbox``) like a Google Takeout export.
    Line ends are LF.  Returns the number of messages written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "wb") as f:
        for msg in messages:
            when = msg.when.astimezone(UTC)
            stamp = f"{_DAYS[when.weekday()][:3]} {_MONTHS[when.month - 1][:3]} {when.day:2d} " \
                    f"{when:%H:%M:%S} {when.year}"
            f.write(f"From {_envelope_sender(msg.raw)} {stamp}\n".encode("ascii"))
            label = b"Sent" if msg.folder == "Sent" else b"Inbox"
            f.write(b"X-Gmail-Labels: " + label + b"\n")
            body = msg.raw.replace(b"\r\n", b"\n")
            for line in body.split(b"\n")[:-1] if body.endswith(b"\n") else body.split(b"\n"):
                if line.lstrip(b">").startswith(b"From "):
                    line = b">" + line
                f.write(line + b"\n")
            f.write(b"\n")
            n += 1
    return n


def write_large_message(path: Path, attachment_bytes: int = 50_000_000, seed: int = SAMPLE_SEED) -> int:
    """Write one outbound ask with a short text body and a random `attachment_bytes` PDF attached (base64, so the
    file is about 1.35 times that), streamed to `path` a slice at a time: the memory and size tests' large message,
    never committed. Returns the file's size."""
    rng = random.Random(f"{seed}:large-message")
    boundary = "riverbend-large-attachment"
    head = (f"From: {_addr('Maya Okafor', TEAM[0])}\r\nTo: {_addr('Lena Fischer', 'lena.fischer@hillside-school.example')}"
            f"\r\nSubject: Our annual report, before the board meets\r\n"
            f"Date: {format_datetime(SAMPLE_START + timedelta(days=10, hours=9))}\r\n"
            f"Message-ID: <large-attachment.{seed}@{TEAM_DOMAIN}>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hi Lena,\r\n\r\nYour class's reading logs shaped this year's report. Could you look over the "
            f"attached draft and tell me by Friday whether the section on your school reads right?\r\n\r\n"
            f"Thank you,\r\nMaya\r\n"
            f"--{boundary}\r\nContent-Type: application/pdf; name=\"annual-report.pdf\"\r\n"
            f"Content-Disposition: attachment; filename=\"annual-report.pdf\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(head.encode("ascii"))
        left = attachment_bytes
        while left > 0:
            piece = rng.randbytes(min(left, 57 * 4096))       # 57 bytes make one 76-character base64 line
            f.write(base64.encodebytes(piece).replace(b"\n", b"\r\n"))
            left -= len(piece)
        f.write(f"--{boundary}--\r\n".encode("ascii"))
    return path.stat().st_size


_README = """\
# sample_mail: a generated demo mailbox

An invented mailbox of Riverbend Literacy Project (a fictional nonprofit; all people, organisations and text are
made up) for trying the auditor and for its tests.  It is a Maildir: the root is INBOX (`cur/ new/ tmp/`),
`.Sent/` is a Maildir++ folder with everything the team sent.  INBOX/cur also holds four deliberately broken
files (empty, truncated, binary, unknown charset).

Do not edit it by hand.  Regenerate it (deterministically, same bytes every time) with:

    python -m auditor.samplegen sample_mail

The generator and its ground truth (which messages are asks, of which style, and who answered) live in
`auditor/samplegen.py`; `python -m auditor.samplegen OUT.mbox --mbox` writes the same mail as one mbox.
"""


def _looks_generated(out: Path) -> bool:
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    names = {p.name for p in out.iterdir()}
    return names <= {"cur", "new", "tmp", ".Sent", "README.md"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m auditor.samplegen",
                                 description="Write the generated sample mailbox (Maildir, or mbox with --mbox).")
    ap.add_argument("out", type=Path, help="output Maildir folder (deleted and rewritten) or mbox file")
    ap.add_argument("--mbox", action="store_true", help="write one mbox file instead of a Maildir")
    ap.add_argument("-n", type=int, default=None, help="number of messages (default: the natural sample)")
    ap.add_argument("--seed", type=int, default=SAMPLE_SEED)
    args = ap.parse_args(argv)
    msgs = iter_messages(n_messages=args.n, seed=args.seed)
    if args.mbox:
        if args.out.is_dir():
            ap.error(f"{args.out} is a directory; --mbox wants a file path")
        n = write_mbox(args.out, msgs)
        print(f"wrote {n} messages to {args.out}")
        return 0
    if not _looks_generated(args.out):
        ap.error(f"{args.out} exists and does not look like a generated Maildir; refusing to delete it")
    if args.out.exists():
        shutil.rmtree(args.out)
    n = write_maildir(args.out, msgs, malformed=True)
    (args.out / "README.md").write_text(_README, encoding="utf-8")
    print(f"wrote {n} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
