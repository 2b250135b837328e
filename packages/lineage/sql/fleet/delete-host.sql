delete from hosts where name = $1 returning name
