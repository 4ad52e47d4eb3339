"""National business registry codes (`SMESelected.business_id`), checked for the SME's country.

One company selected by two partners is one enterprise: "distinct enterprises supported" counts it
once (docs/contract.md). That needs one spelling per company, so a code is checked with
python-stdnum's module for its country and kept in that module's compact form ("FI 1572860-0" and
"15728600" are the same Y-tunnus). A country without a module here accepts any code of letters,
digits, spaces and `./-`, compared as sent without spaces and in upper case.
"""

from collections.abc import Mapping
from types import ModuleType

from stdnum import exceptions
from stdnum.at import businessid as at_businessid
from stdnum.dk import cvr as dk_cvr
from stdnum.ee import registrikood as ee_registrikood
from stdnum.es import cif as es_cif
from stdnum.fi import ytunnus as fi_ytunnus
from stdnum.fr import siren as fr_siren
from stdnum.is_ import kennitala as is_kennitala
from stdnum.lv import pvn as lv_pvn
from stdnum.no import orgnr as no_orgnr
from stdnum.pl import regon as pl_regon
from stdnum.se import orgnr as se_orgnr

REGISTRIES: Mapping[str, ModuleType] = {
    "AT": at_businessid,
    "DK": dk_cvr,
    "EE": ee_registrikood,
    "ES": es_cif,
    "FI": fi_ytunnus,
    "FR": fr_siren,
    "IS": is_kennitala,
    "LV": lv_pvn,
    "NO": no_orgnr,
    "PL": pl_regon,
    "SE": se_orgnr,
}
"""The registry code checked per home country (ISO 3166-1 alpha-2)."""


def registry_name(country: str) -> str | None:
    """`Y-tunnus (Finnish business identifier)` for FI; None for a country without a check."""
    module = REGISTRIES.get(country)
    return None if module is None else (module.__doc__ or "").strip().splitlines()[0].rstrip(".")


def normalised_business_id(country: str, value: str) -> str:
    """The code in its compact form, or ValueError saying what is wrong for that country."""
    module = REGISTRIES.get(country)
    if module is None:
        return "".join(value.split()).upper()
    try:
        compact: str = module.validate(value)
    except exceptions.ValidationError as error:
        raise ValueError(f"not a valid {registry_name(country)} for country {country}: {error}") from None
    return compact
