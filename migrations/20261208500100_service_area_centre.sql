-- Near-me browse (contract §13) at a city's density (issue 28): the area's snapped centre
-- as a stored earth point, so a candidate's distance is one cube_distance instead of an
-- ll_to_earth per row (its domain checks cost more than the rest of the row), and the
-- GiST index over that column (same name as before, so the plan test still names it).
ALTER TABLE mitra_service_areas
    ADD COLUMN centre earth GENERATED ALWAYS AS (ll_to_earth(snapped_lat, snapped_lng)) STORED;
DROP INDEX mitra_service_areas_earth_idx;
CREATE INDEX mitra_service_areas_earth_idx ON mitra_service_areas USING gist (centre);
