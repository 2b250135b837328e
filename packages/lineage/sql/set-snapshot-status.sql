update snapshots set status = $3 where repository = $1 and id = $2
