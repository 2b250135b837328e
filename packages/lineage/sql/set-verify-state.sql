update snapshots set verify_state = $3 where repository = $1 and id = $2
