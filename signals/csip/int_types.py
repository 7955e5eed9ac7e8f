"""The IEEE 2030.5 integer types of every integer element, and the check that a parsed resource keeps to them.

The resource models read integers as Python ints of any size; the standard gives each element a
fixed-width type (Int8 ... UInt48, Int64 for times), and SQLite stores at most 64 bits. A value
outside its element's type is the client's mistake: the document is refused (400) naming the
element, before anything is stored or computed from it (a power-of-ten multiplier of 400 would
otherwise overflow the operator's rating arithmetic).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

RANGES: dict[str, tuple[int, int]] = {
    **{f"Int{bits}": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (8, 16, 32, 48, 64)},
    **{f"UInt{bits}": (0, 2**bits - 1) for bits in (8, 16, 32, 40, 48)},
}

# Element name -> its type, for the names that have one type wherever they appear (IEEE 2030.5 schema).
_BY_TYPE = {
    "Int8": "multiplier powerOfTenMultiplier pricePowerOfTenMultiplier xMultiplier yMultiplier",
    "Int16": "coolingSetpoint heatingSetpoint opModFixedW randomizeDuration randomizeStart setESHighVolt setESLowVolt",
    "Int32": "consumeThreshold dstOffset maxReductionThreshold price tzOffset xvalue yvalue",
    "Int48": "billLastPeriod billToDate lowerThreshold upperThreshold",
    "Int64": (
        "activateTime batteryInstallTime changedTime createdDateTime creationTime currentTime dateTime "
        "dateTimeRegistered dstEndTime dstStartTime effectiveTime lastResetTime lastUpdatedTime lastUpdateTime "
        "localTime mfDate nextRequestAttempt nextUpdateTime potentiallySupersededTime readingTime start startTime "
        "statusTime statusTimeStamp swActTime timeChargeIsNeeded timeChargingStatusPEV updatedTime"
    ),
    "UInt8": (
        "accumulationBehaviour attributeIdentifier batteryStatus commodity consumptionBlock coolingOffset costKind "
        "costLevel creditStatus creditType creditTypeInUse currentPowerSource currentStatus curveType dataQualifier "
        "DODAGid emergencyCreditStatus encoding flags flowDirection functionSet heatingOffset ifOperStatus kind "
        "linkLayerType linkQuality loadPercent logEventCode maxNumberOfIntervals MOP newStatus newType normalValue "
        "numberOfConsumptionBlocks numberOfTouTiers numCostLevels opState phase prepayMode PRF primacy "
        "primaryPower priority profileID quality refType requestStatus RPLInstanceID rtgAbnormalCategory "
        "rtgNormalCategory secondaryPower serviceCategoryKind serviceStatus status subject subscribable touTier "
        "type unit uom versionNumber yRefType"
    ),
    "UInt16": (
        "availabilityUpdatePercentChangeThreshold currency displacement durationRequested estimatedChargeRemaining "
        "ifType kOF kUF loadAdjustmentPercentageOffset logEventID maxRetryDuration monetaryUnit onCount openLoopTms "
        "opModMaxLimW overrideDuration rampDecTms rampIncTms rampPT1Tms rampTms rank reasonCode request503Count "
        "requestFailCount reserveChargePercent reservePercent setESHighFreq setESLowFreq setGradW setSoftGradW "
        "sheddablePercent shortAddress targetStateOfCharge version vRef"
    ),
    "UInt32": (
        "all amount autonomousVRefTimeConstant availabilityDuration CRCerrors dBOF dBUF duration "
        "estimatedTimeRemaining extendedData ifHighSpeed ifInBroadcastPkts ifIndex ifInDiscards ifInErrors "
        "ifInMulticastPkts ifInOctets ifInUcastPkts ifInUnknownProtos ifMtu ifOutBroadcastPkts ifOutDiscards "
        "ifOutErrors ifOutMulticastPkts ifOutOctets ifOutUcastPkts ifSpeed intervalLength limit LLAckNotRx "
        "LLCSMAFail LLFramesDropRx LLFramesDropTx LLFramesRx LLFramesTx LLMediaAccessFail LLOctetsRx LLOctetsTx "
        "LLRetryCount LLSecurityErrorRx logEventPEN lowChargeThreshold maxChargeDuration mfID "
        "minimumChargingDuration octetsRx octetsTx opTime packetsRx packetsTx pIN pollRate postRate providerID "
        "results rxFragError sessionTimeOnBattery setESDelay setESRampTms setESRandomDelay size subIntervalLength "
        "totalTimeOnBattery"
    ),
    "UInt40": "sFDI",
    "UInt48": "startValue supplyLimit",
}
FIELD_TYPES: dict[str, str] = {name: kind for kind, names in _BY_TYPE.items() for name in names.split()}

# `value` has the type of the resource that holds it.
VALUE_TYPES: dict[str, str] = {
    "AccountingUnit": "Int32",
    "ActivePower": "Int16",
    "AmpereHour": "UInt16",
    "ApparentPower": "UInt16",
    "AppliedTargetReduction": "UInt16",
    "Charge": "Int32",
    "CurrentRMS": "UInt16",
    "FixedPointType": "Int16",
    "FixedVar": "Int16",
    "ReactivePower": "Int16",
    "ReactiveSusceptance": "UInt16",
    "Reading": "Int48",
    "ReadingBase": "Int48",
    "RealEnergy": "UInt48",
    "SignedRealEnergy": "Int48",
    "StateOfChargeStatusValue": "UInt16",
    "TargetReduction": "UInt16",
    "Temperature": "Int16",
    "UnitValueType": "Int32",
    "UnsignedFixedPointType": "UInt16",
    "VoltageRMS": "UInt16",
    "WattHour": "UInt16",
}
WIDEST = "Int64"  # an integer element not named above: what the store can hold


def element_type(holder: str, element: str) -> str:
    """The 2030.5 integer type of `element` in a resource of type `holder`."""
    if element == "value":
        return VALUE_TYPES.get(holder, WIDEST)
    return FIELD_TYPES.get(element.rstrip("_"), WIDEST)


def integer_problem(resource: BaseModel) -> str | None:
    """The first integer of the resource (nested resources included) outside its 2030.5 type, as
    'path: value is outside Type (low to high)'; None when every one fits."""
    return _walk(resource, "")


def _walk(resource: BaseModel, prefix: str) -> str | None:
    holder = type(resource).__name__
    for name in type(resource).model_fields:
        found = _check(holder, name, getattr(resource, name), f"{prefix}{name}")
        if found is not None:
            return found
    return None


def _check(holder: str, name: str, value: Any, path: str) -> str | None:
    if type(value) is int:  # not bool, nor an enumeration (the model has checked those)
        kind = element_type(holder, name)
        low, high = RANGES[kind]
        if not low <= value <= high:
            return f"{path}: {value} is outside {kind} ({low} to {high})"
    elif isinstance(value, BaseModel):
        return _walk(value, f"{path}.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _check(holder, name, item, f"{path}[{i}]")
            if found is not None:
                return found
    return None
