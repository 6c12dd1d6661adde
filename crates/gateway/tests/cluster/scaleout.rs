//! Scale-out: three replicas behind nginx (being written).
