"""A small electronic-health-record MCP server for the mcp-gate demo and tests.

Every patient here is invented, but the records look like the real thing: names,
dates of birth, SSNs, MRNs, phone numbers, addresses and the treating
physician's NPI, so that masking and approvals have something real to act on.
The tools carry honest MCP annotations (reads are read-only, deleting is
destructive, exporting reaches outside the system).

Run it on its own with ``python examples/ehr_server.py`` (stdio) or
``python examples/ehr_server.py --http --port 9100`` (streamable HTTP).
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Annotated, Literal

import anyio
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)


class Physician(BaseModel):
    name: str
    npi: str


class Medication(BaseModel):
    name: str
    dose: str


class Patient(BaseModel):
    mrn: str
    name: str
    dob: str
    ssn: str
    phone: str
    email: str
    address: str
    physician: Physician
    medications: list[Medication]
    notes: str


class PatientSummary(BaseModel):
    mrn: str
    name: str
    dob: str


class LabResult(BaseModel):
    test: str
    value: str
    unit: str
    reference_range: str
    collected: str


class LabReport(BaseModel):
    mrn: str
    patient: str
    results: list[LabResult]


class ExportReceipt(BaseModel):
    destination: str
    format: str
    count: int
    data: str


def _physician(name: str, npi: str) -> Physician:
    return Physician(name=name, npi=npi)


PATIENTS: dict[str, Patient] = {
    p.mrn: p
    for p in [
        Patient(
            mrn="MRN-004211",
            name="Maria Gonzalez",
            dob="1958-03-14",
            ssn="532-71-4408",
            phone="(617) 555-0142",
            email="maria.gonzalez@example.org",
            address="44 Elm Street, Springfield, MA 01103",
            physician=_physician("Dr. Alan Whitfield", "1234567893"),
            medications=[Medication(name="metformin", dose="500 mg twice daily")],
            notes="Patient: Maria Gonzalez, DOB 03/14/1958, seen for type 2 diabetes follow-up. "
            "Call back at 617-555-0142 with A1c results.",
        ),
        Patient(
            mrn="MRN-007730",
            name="James O'Connor",
            dob="1944-11-02",
            ssn="286-44-1925",
            phone="(312) 555-0199",
            email="jim.oconnor@example.com",
            address="1208 Lakeview Avenue, Apt 3B, Chicago, IL 60614",
            physician=_physician("Dr. Priya Raman", "1987654328"),
            medications=[
                Medication(name="lisinopril", dose="10 mg daily"),
                Medication(name="atorvastatin", dose="40 mg nightly"),
            ],
            notes="Mr. O'Connor (MRN-007730) reports dizziness on standing. SSN on file 286-44-1925.",
        ),
        Patient(
            mrn="MRN-011562",
            name="Aisha Bello",
            dob="1990-07-21",
            ssn="536-22-8471",
            phone="(206) 555-0117",
            email="aisha.bello@example.net",
            address="77 Pine Road, Seattle, WA 98101",
            physician=_physician("Dr. Alan Whitfield", "1234567893"),
            medications=[Medication(name="levothyroxine", dose="75 mcg daily")],
            notes="Aisha Bello, 36, hypothyroidism; TSH recheck in 6 weeks. Prefers email.",
        ),
        Patient(
            mrn="MRN-015908",
            name="Robert Chen",
            dob="1931-01-30",
            ssn="412-67-3305",
            phone="(415) 555-0163",
            email="r.chen@example.com",
            address="9 Harbor View Lane, San Francisco, CA 94133",
            physician=_physician("Dr. Elena Novak", "1543219871"),
            medications=[Medication(name="warfarin", dose="5 mg daily")],
            notes="Robert Chen, age 95, INR monitoring. Daughter Linda Chen is the contact, 415-555-0164.",
        ),
    ]
}

LABS: dict[str, list[LabResult]] = {
    "MRN-004211": [
        LabResult(test="Hemoglobin A1c", value="7.9", unit="%", reference_range="4.0-5.6", collected="2026-11-20"),
        LabResult(test="Creatinine", value="1.1", unit="mg/dL", reference_range="0.6-1.2", collected="2026-11-20"),
    ],
    "MRN-007730": [
        LabResult(test="Potassium", value="5.3", unit="mmol/L", reference_range="3.5-5.1", collected="2026-11-28"),
    ],
    "MRN-011562": [
        LabResult(test="TSH", value="6.2", unit="mIU/L", reference_range="0.4-4.0", collected="2026-10-02"),
    ],
    "MRN-015908": [
        LabResult(test="INR", value="3.4", unit="", reference_range="2.0-3.0", collected="2026-12-01"),
    ],
}

mcp = MCPServer(
    "demo-ehr",
    version="1.0.0",
    instructions="Synthetic electronic health records. Every patient is fictional.",
)


def _patient(mrn: str) -> Patient:
    try:
        return PATIENTS[mrn]
    except KeyError:
        raise ValueError(f"no patient with MRN {mrn!r}") from None


@mcp.tool(annotations=READ)
def search_patients(query: str, limit: int = 10) -> list[PatientSummary]:
    """Find patients whose name or MRN contains the query (case-insensitive)."""
    needle = query.lower()
    found = [
        PatientSummary(mrn=p.mrn, name=p.name, dob=p.dob)
        for p in PATIENTS.values()
        if needle in p.name.lower() or needle in p.mrn.lower()
    ]
    return found[:limit]


@mcp.tool(annotations=READ)
def get_patient(mrn: str) -> Patient:
    """The full chart of one patient: demographics, contact details, physician, medications, notes."""
    return _patient(mrn)


@mcp.tool(annotations=READ)
def get_lab_results(mrn: str) -> LabReport:
    """Recent laboratory results for one patient."""
    patient = _patient(mrn)
    return LabReport(mrn=mrn, patient=patient.name, results=LABS.get(mrn, []))


@mcp.tool(
    annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False)
)
def update_medication(mrn: str, medication: str, dose: str, reason: str) -> Patient:
    """Start a medication or change its dose; earlier doses stay in the chart's history."""
    patient = _patient(mrn)
    meds = [m for m in patient.medications if m.name.lower() != medication.lower()]
    meds.append(Medication(name=medication, dose=dose))
    updated = patient.model_copy(update={"medications": meds})
    PATIENTS[mrn] = updated
    return updated


@mcp.tool(
    annotations=ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True)
)
def export_records(
    mrns: Annotated[list[str], Field(min_length=1)],
    format: Literal["csv", "json"] = "csv",
    destination: str = "research-share",
) -> ExportReceipt:
    """Export whole patient charts (with identifiers) to a destination outside the EHR."""
    patients = [_patient(mrn) for mrn in mrns]
    if format == "json":
        data = "[" + ",".join(p.model_dump_json() for p in patients) + "]"
    else:
        rows = ["mrn,name,dob,ssn,phone,address"]
        rows += [f'{p.mrn},{p.name},{p.dob},{p.ssn},{p.phone},"{p.address}"' for p in patients]
        data = "\n".join(rows)
    return ExportReceipt(destination=destination, format=format, count=len(patients), data=data)


@mcp.tool(
    annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)
)
def delete_patient(mrn: str, reason: str) -> str:
    """Permanently remove a patient's chart."""
    patient = PATIENTS.pop(mrn, None)
    if patient is None:
        raise ValueError(f"no patient with MRN {mrn!r}")
    return f"Deleted chart {mrn} ({reason})."


@mcp.tool(annotations=READ)
async def generate_discharge_summary(mrn: str, ctx: Context, steps: int = 3) -> str:
    """Draft a discharge summary, reporting progress as each section is written."""
    patient = _patient(mrn)
    sections = ["history", "medications", "follow-up"][: max(1, min(steps, 3))]
    for index, section in enumerate(sections, start=1):
        await ctx.report_progress(index, len(sections), f"writing {section}")
        await anyio.lowlevel.checkpoint()
    meds = ", ".join(f"{m.name} {m.dose}" for m in patient.medications)
    return (
        f"Discharge summary for {patient.name} (DOB {patient.dob}, {patient.mrn}). "
        f"Medications on discharge: {meds}. Follow up with {patient.physician.name}."
    )


class FollowUpSlot(BaseModel):
    day: str = Field(description="Preferred day, e.g. 2027-01-15")
    notes: str = Field(default="", description="Anything the clinic should know")


def _ask_for_slot(mrn: str) -> Elicit[FollowUpSlot]:
    return Elicit(f"Which day suits the follow-up visit for {mrn}?", FollowUpSlot)


@mcp.tool(
    annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
)
def schedule_followup(
    mrn: str,
    slot: Annotated[ElicitationResult[FollowUpSlot], Resolve(_ask_for_slot)],
) -> str:
    """Book a follow-up visit; asks the user which day suits them."""
    patient = _patient(mrn)
    if not isinstance(slot, AcceptedElicitation):
        return f"No follow-up booked for {patient.mrn}: the user did not choose a day."
    day = date.fromisoformat(slot.data.day)
    return f"Follow-up for {patient.mrn} booked on {day.isoformat()}." + (
        f" Notes: {slot.data.notes}" if slot.data.notes else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    if args.http:
        mcp.run("streamable-http", host=args.host, port=args.port)
    else:
        mcp.run()


if __name__ == "__main__":
    main()
