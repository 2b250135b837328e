delete from policies where name = $1 returning name
