//! Where a mitra serves (contract §13): a point and a radius of 1–50 km. A mitra with an
//! area takes only orders whose address lies inside it; customers find such mitra near a
//! point (`browse::near_page`). Everything a customer sees is computed from the centre
//! snapped to a 0.01° grid (about 1 km), with `cube` + `earthdistance` over a GiST index,
//! so neither a distance nor a page boundary gives away the mitra's exact place.

use poem_openapi::Object;
use sqlx::PgPool;
use uuid::Uuid;

use super::MarketError;

/// The smallest and largest radius, km.
pub const RADIUS_KM: std::ops::RangeInclusive<i32> = 1..=50;

/// A service area as its mitra set it (only the mitra sees the exact centre).
#[derive(Debug, Clone, Object, sqlx::FromRow)]
pub struct ServiceArea {
    /// Degrees, −90 to 90.
    pub lat: f64,
    /// Degrees, −180 to 180.
    pub lng: f64,
    /// Whole km, 1–50.
    pub radius_km: i32,
}

/// Checks a latitude and longitude; `field` names them in the message.
pub fn check_point(field: &str, lat: f64, lng: f64) -> Result<(), MarketError> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(MarketError::Invalid(format!("{field}: lat must be between -90 and 90")));
    }
    if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
        return Err(MarketError::Invalid(format!("{field}: lng must be between -180 and 180")));
    }
    Ok(())
}

/// The centre customers' distances are computed from: two decimals (about 1.1 km).
pub fn snap(degrees: f64) -> f64 {
    (degrees * 100.0).round() / 100.0
}

/// Sets (or replaces) mitra `mitra_id`'s area.
pub async fn put(db: &PgPool, mitra_id: Uuid, area: &ServiceArea) -> Result<ServiceArea, MarketError> {
    check_point("area", area.lat, area.lng)?;
    if !RADIUS_KM.contains(&area.radius_km) {
        return Err(MarketError::Invalid("radius_km must be between 1 and 50".into()));
    }
    let stored: ServiceArea = sqlx::query_as(
        "INSERT INTO mitra_service_areas (mitra_id, lat, lng, snapped_lat, snapped_lng, radius_km)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (mitra_id) DO UPDATE SET lat = excluded.lat, lng = excluded.lng, snapped_lat = excluded.snapped_lat,
                                              snapped_lng = excluded.snapped_lng, radius_km = excluded.radius_km,
                                              updated_at = now()
         RETURNING lat, lng, radius_km",
    )
    .bind(mitra_id)
    .bind(area.lat)
    .bind(area.lng)
    .bind(snap(area.lat))
    .bind(snap(area.lng))
    .bind(area.radius_km)
    .fetch_one(db)
    .await?;
    Ok(stored)
}

/// Removes mitra `mitra_id`'s area (it then serves at its own place or online; account
/// deletion erases it, a place the mitra may live); false when it had none.
pub async fn delete(db: impl sqlx::PgExecutor<'_>, mitra_id: Uuid) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM mitra_service_areas WHERE mitra_id = $1").bind(mitra_id).execute(db).await?;
    Ok(deleted.rows_affected() == 1)
}

/// Parses `near=LAT,LNG`.
pub fn parse_near(text: &str) -> Result<(f64, f64), MarketError> {
    let bad = || MarketError::Invalid("near must be LAT,LNG in degrees, e.g. -6.2,106.8".into());
    let (lat, lng) = text.split_once(',').ok_or_else(bad)?;
    let (lat, lng): (f64, f64) = (lat.trim().parse().map_err(|_| bad())?, lng.trim().parse().map_err(|_| bad())?);
    check_point("near", lat, lng)?;
    Ok((lat, lng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_snap_to_two_decimals_and_near_is_checked() {
        assert_eq!(snap(-6.20449), -6.2);
        assert_eq!(snap(106.8267), 106.83);
        assert_eq!(parse_near("-6.2, 106.8").unwrap(), (-6.2, 106.8));
        for bad in ["", "-6.2", "a,b", "91,0", "0,181", "NaN,0"] {
            assert!(parse_near(bad).is_err(), "{bad}");
        }
    }
}
