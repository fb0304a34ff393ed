/* xchg-synth — frequency-weighted name and street tables.
 *
 * Written for this project: the weights are rough relative frequencies in the style of
 * published first-name and surname rankings for England and Wales (older vs younger
 * birth cohorts), not copied from any list, and no entry refers to a real person. The
 * tables deliberately include diacritics, hyphens, apostrophes, spaces and Mc/Mac/O'
 * prefixes, which name-matching code must survive. */
#include "synth.h"

#include <string.h>

typedef struct name_w {
    const char *name;
    uint32_t w;
} name_w;

static const name_w male_old[] = {
    {"David", 60},   {"John", 60},    {"Michael", 50},     {"Paul", 45},     {"Andrew", 40},
    {"Peter", 38},   {"Stephen", 35}, {"Robert", 35},      {"Mark", 35},     {"Richard", 30},
    {"James", 30},   {"William", 28}, {"Christopher", 25}, {"Anthony", 22},  {"Ian", 22},
    {"Gary", 20},    {"Kevin", 20},   {"Thomas", 18},      {"Alan", 18},     {"Brian", 15},
    {"Keith", 12},   {"Colin", 12},   {"Graham", 12},      {"Philip", 15},   {"Martin", 15},
    {"Neil", 12},    {"Simon", 15},   {"Steven", 15},      {"Edward", 10},   {"George", 10},
    {"Kenneth", 8},  {"Raymond", 8},  {"Derek", 6},        {"Dennis", 5},    {"Trevor", 7},
    {"Nigel", 7},    {"Barry", 8},    {"Mohammed", 8},     {"Seán", 3},      {"Dafydd", 2},
    {"Gareth", 6},   {"Eoin", 2},     {"Jean-Paul", 1},    {"Rajesh", 3},    {"Sanjay", 3},
    {"Tariq", 2},    {"Winston", 2},  {"Clive", 4},        {"Frederick", 3}, {"Charles", 6},
    {"Henry", 3},    {"Joseph", 8},   {"Samuel", 3},       {"Matthew", 10},  {"Daniel", 10},
    {"Nicholas", 8}, {"Jonathan", 8}, {"Benjamin", 3},     {"Alexander", 4}, {"Patrick", 6},
    {"Francis", 3},  {"Lee", 8},      {"Darren", 8},       {"Wayne", 6},     {"Jason", 8},
    {"Craig", 6},    {"Dariusz", 2},  {"José", 1},         {"Gurdeep", 2},   {"Kwame", 1},
};
static const name_w male_young[] = {
    {"Oliver", 40},    {"Jack", 38},     {"Harry", 35},      {"George", 30},   {"Noah", 30},
    {"Charlie", 28},   {"Jacob", 25},    {"Thomas", 28},     {"Oscar", 22},    {"William", 25},
    {"James", 25},     {"Leo", 22},      {"Alfie", 20},      {"Joshua", 20},   {"Muhammad", 22},
    {"Freddie", 15},   {"Archie", 18},   {"Henry", 15},      {"Ethan", 15},    {"Isaac", 12},
    {"Alexander", 12}, {"Joseph", 15},   {"Samuel", 15},     {"Daniel", 15},   {"Logan", 10},
    {"Lucas", 10},     {"Max", 10},      {"Mason", 10},      {"Dylan", 10},    {"Riley", 10},
    {"Tyler", 8},      {"Callum", 8},    {"Kieran", 6},      {"Liam", 12},     {"Ryan", 10},
    {"Matthew", 12},   {"Benjamin", 10}, {"Lewis", 10},      {"Luke", 10},     {"Adam", 10},
    {"Connor", 8},     {"Reece", 5},     {"Ellis", 4},       {"Tomás", 2},     {"Mateusz", 3},
    {"Jakub", 3},      {"Aarav", 2},     {"Ibrahim", 5},     {"Yusuf", 4},     {"Zain", 3},
    {"Rhys", 4},       {"Ioan", 2},      {"Seán", 2},        {"Jay-Den", 1},   {"D'Angelo", 1},
    {"Kacper", 2},     {"Ayaan", 2},     {"Christopher", 8}, {"Michael", 8},   {"David", 8},
    {"Jayden", 6},     {"Jamie", 8},     {"Aaron", 6},       {"Nathan", 8},    {"Owen", 6},
    {"Jake", 8},       {"Kai", 4},       {"Elliot", 4},      {"Theo", 8},      {"Arthur", 10},
    {"Edward", 6},     {"Robert", 6},    {"Anthony", 4},     {"Frederick", 3}, {"Nicholas", 3},
    {"Jonathan", 3},
};
static const name_w female_old[] = {
    {"Susan", 50},     {"Margaret", 45},  {"Sarah", 45},    {"Patricia", 30},  {"Elizabeth", 35},
    {"Karen", 35},     {"Julie", 35},     {"Linda", 30},    {"Helen", 30},     {"Jacqueline", 22},
    {"Deborah", 25},   {"Christine", 28}, {"Tracey", 22},   {"Nicola", 25},    {"Michelle", 25},
    {"Alison", 20},    {"Amanda", 22},    {"Joanne", 22},   {"Claire", 25},    {"Lisa", 25},
    {"Angela", 20},    {"Carol", 20},     {"Jennifer", 15}, {"Mary", 30},      {"Catherine", 18},
    {"Katherine", 10}, {"Rebecca", 15},   {"Emma", 20},     {"Victoria", 12},  {"Rachel", 15},
    {"Louise", 15},    {"Samantha", 15},  {"Kelly", 12},    {"Donna", 10},     {"Dawn", 10},
    {"Joan", 10},      {"Barbara", 15},   {"Sandra", 18},   {"Pauline", 10},   {"Janet", 15},
    {"Brenda", 6},     {"Valerie", 6},    {"Shirley", 6},   {"Doreen", 4},     {"Siân", 4},
    {"Bethan", 3},     {"Renée", 2},      {"Zoë", 2},       {"Anne-Marie", 3}, {"Mary-Jane", 1},
    {"Bernadette", 3}, {"Siobhán", 2},    {"Aoife", 1},     {"Niamh", 2},      {"Parveen", 3},
    {"Nasreen", 3},    {"Shabana", 2},    {"Anjali", 2},    {"Gurpreet", 2},   {"Abigail", 5},
    {"Alexandra", 5},  {"Charlotte", 8},  {"Gemma", 10},    {"Hayley", 8},     {"Stephanie", 10},
    {"Natalie", 10},   {"Kerry", 8},      {"Leanne", 8},    {"Jessica", 6},    {"Hannah", 8},
    {"Agnieszka", 2},  {"Chidinma", 1},   {"D'Arcy", 1},
};
static const name_w female_young[] = {
    {"Olivia", 40},   {"Amelia", 38},   {"Isla", 30},     {"Ava", 30},       {"Mia", 25},
    {"Ivy", 15},      {"Lily", 25},     {"Isabella", 22}, {"Rosie", 15},     {"Sophia", 20},
    {"Grace", 22},    {"Freya", 20},    {"Florence", 15}, {"Willow", 12},    {"Emily", 25},
    {"Ella", 20},     {"Poppy", 18},    {"Evie", 18},     {"Charlotte", 20}, {"Sophie", 18},
    {"Chloe", 18},    {"Chloé", 2},     {"Jessica", 15},  {"Ruby", 15},      {"Daisy", 12},
    {"Phoebe", 10},   {"Sienna", 10},   {"Millie", 12},   {"Erin", 10},      {"Holly", 10},
    {"Lucy", 12},     {"Megan", 12},    {"Hannah", 12},   {"Eleanor", 10},   {"Aisha", 6},
    {"Maryam", 6},    {"Fatima", 6},    {"Zara", 5},      {"Zoë", 4},        {"Zoe", 6},
    {"Maja", 2},      {"Zuzanna", 2},   {"Lena", 3},      {"Amélie", 2},     {"Niamh", 4},
    {"Aoife", 2},     {"Siân", 2},      {"Seren", 3},     {"Ffion", 2},      {"Lily-Mae", 3},
    {"Ellie-May", 2}, {"Mary-Kate", 1}, {"D'Arcy", 1},    {"Amy", 10},       {"Abigail", 10},
    {"Katie", 10},    {"Rebecca", 8},   {"Bethany", 6},   {"Georgia", 8},    {"Alice", 10},
    {"Matilda", 6},   {"Harriet", 5},   {"Elizabeth", 6}, {"Victoria", 4},   {"Samantha", 4},
    {"Jasmine", 6},   {"Paige", 4},     {"Courtney", 4},  {"Leah", 6},       {"Madison", 4},
    {"Jennifer", 3},  {"Katherine", 3}, {"Margaret", 1},  {"Alexandra", 3},
};
static const name_w surnames[] = {
    {"Smith", 120},     {"Jones", 90},         {"Williams", 70},    {"Taylor", 60},
    {"Brown", 60},      {"Davies", 55},        {"Evans", 45},       {"Wilson", 40},
    {"Thomas", 40},     {"Johnson", 38},       {"Roberts", 38},     {"Robinson", 30},
    {"Thompson", 30},   {"Wright", 30},        {"Walker", 30},      {"White", 28},
    {"Edwards", 28},    {"Hughes", 28},        {"Green", 27},       {"Hall", 27},
    {"Lewis", 26},      {"Harris", 26},        {"Clarke", 26},      {"Patel", 30},
    {"Jackson", 25},    {"Wood", 25},          {"Turner", 22},      {"Martin", 22},
    {"Cooper", 22},     {"Hill", 22},          {"Ward", 22},        {"Morris", 22},
    {"Moore", 21},      {"Clark", 21},         {"Lee", 20},         {"King", 20},
    {"Baker", 20},      {"Harrison", 20},      {"Morgan", 19},      {"Allen", 19},
    {"James", 19},      {"Scott", 18},         {"Phillips", 18},    {"Watson", 18},
    {"Davis", 18},      {"Parker", 17},        {"Price", 17},       {"Bennett", 17},
    {"Young", 17},      {"Griffiths", 17},     {"Mitchell", 16},    {"Kelly", 16},
    {"Cook", 16},       {"Carter", 16},        {"Richardson", 15},  {"Bailey", 15},
    {"Collins", 15},    {"Bell", 15},          {"Shaw", 15},        {"Murphy", 15},
    {"Miller", 15},     {"Cox", 14},           {"Richards", 14},    {"Khan", 20},
    {"Marshall", 13},   {"Anderson", 13},      {"Simpson", 13},     {"Ellis", 13},
    {"Adams", 13},      {"Singh", 16},         {"Begum", 12},       {"Wilkinson", 12},
    {"Foster", 12},     {"Chapman", 12},       {"Powell", 12},      {"Webb", 12},
    {"Rogers", 12},     {"Gray", 12},          {"Mason", 12},       {"Ali", 14},
    {"Hunt", 11},       {"Hussain", 12},       {"Campbell", 11},    {"Matthews", 11},
    {"Owen", 11},       {"Palmer", 11},        {"Holmes", 11},      {"Mills", 11},
    {"Barnes", 11},     {"Knight", 10},        {"Lloyd", 10},       {"Butler", 10},
    {"Russell", 10},    {"Barker", 10},        {"Fisher", 10},      {"Stevens", 10},
    {"Jenkins", 10},    {"Dixon", 10},         {"Fletcher", 10},    {"Ahmed", 12},
    {"Rahman", 6},      {"Kaur", 8},           {"Shah", 6},         {"Nguyen", 4},
    {"Chen", 4},        {"Wang", 3},           {"Okafor", 3},       {"Mensah", 3},
    {"Adeyemi", 3},     {"Nowak", 4},          {"Kowalski", 3},     {"Wiśniewski", 2},
    {"Lewandowski", 2}, {"Kowalczyk", 2},      {"Öztürk", 2},       {"Yılmaz", 2},
    {"Gonçalves", 2},   {"Müller", 2},         {"Núñez", 1},        {"Pérez", 2},
    {"Da Silva", 3},    {"Van der Berg", 1},   {"O'Brien", 8},      {"O'Neill", 7},
    {"O'Connor", 7},    {"O'Sullivan", 5},     {"O'Reilly", 4},     {"O'Donnell", 3},
    {"McDonald", 8},    {"McCarthy", 6},       {"McLaughlin", 4},   {"McKenzie", 5},
    {"McGregor", 3},    {"McIntyre", 3},       {"McAllister", 3},   {"Mackenzie", 4},
    {"MacDonald", 5},   {"MacLeod", 4},        {"Macintosh", 2},    {"MacKay", 3},
    {"Smith-Jones", 1}, {"Taylor-Brown", 1},   {"Lloyd-Davies", 1}, {"Hughes-Evans", 1},
    {"ap Gwilym", 1},   {"Ó Súilleabháin", 1}, {"D'Souza", 3},      {"D'Arcy", 2},
    {"Fitzgerald", 4},  {"St John", 1},        {"Fenwick", 3},      {"Marsh", 5},
    {"Drury", 3},       {"Pickering", 4},      {"Brennan", 4},      {"Doyle", 5},
    {"Quinn", 4},
};
static const name_w streets[] = {
    {"Mill", 10},     {"Church", 12},    {"Station", 10}, {"Park", 10},    {"Victoria", 8},
    {"Queen's", 6},   {"King's", 6},     {"High", 8},     {"Manor", 8},    {"School", 7},
    {"Orchard", 7},   {"Meadow", 7},     {"Willow", 6},   {"Chestnut", 5}, {"Oak", 6},
    {"Ash", 5},       {"Beech", 5},      {"Elm", 5},      {"Holly", 4},    {"Rowan", 4},
    {"Heron", 3},     {"Kingfisher", 3}, {"Brook", 5},    {"Bridge", 5},   {"Windmill", 4},
    {"Garden", 4},    {"Grange", 4},     {"Abbey", 3},    {"Priory", 3},   {"St Mary's", 4},
    {"St John's", 3}, {"Cromwell", 3},   {"Nelson", 3},   {"Albert", 4},   {"Dyke", 2},
    {"Marsh", 3},     {"Sluice", 2},     {"Tithe", 2},    {"Harvest", 2},  {"Furlong", 2},
    {"Carr", 2},      {"Pinfold", 2},    {"Fen", 3},      {"Lode", 2},     {"Wold", 3},
};
static const name_w street_suffixes[] = {
    {"Street", 14}, {"Road", 20},    {"Lane", 10},   {"Close", 10}, {"Avenue", 6},  {"Drive", 6},
    {"Way", 6},     {"Crescent", 4}, {"Gardens", 4}, {"Court", 3},  {"Terrace", 3}, {"Place", 3},
    {"Grove", 3},   {"View", 2},     {"Walk", 2},    {"Rise", 2},   {"Drove", 2},
};
static const name_w buildings[] = {
    {"House", 6}, {"Court", 5}, {"Lodge", 2}, {"Mews", 1}, {"Heights", 1}, {"Mansions", 1},
};

#define TABLE_MAX 200
static uint32_t cum[NAMES_COUNT][TABLE_MAX];
static uint32_t total[NAMES_COUNT];
static const name_w *tables[NAMES_COUNT];
static size_t counts[NAMES_COUNT];

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Cumulative weights are built once, before any generation; afterwards the tables are
 * read-only. */
static void names_init(void)
{
    if (tables[0])
        return;
    const name_w *t[NAMES_COUNT] = {male_old, male_young, female_old,      female_young,
                                    surnames, streets,    street_suffixes, buildings};
    size_t n[NAMES_COUNT] = {COUNT(male_old),        COUNT(male_young), COUNT(female_old),
                             COUNT(female_young),    COUNT(surnames),   COUNT(streets),
                             COUNT(street_suffixes), COUNT(buildings)};
    for (int i = 0; i < NAMES_COUNT; i++) {
        uint32_t c = 0;
        for (size_t j = 0; j < n[i] && j < TABLE_MAX; j++) {
            c += t[i][j].w;
            cum[i][j] = c;
        }
        total[i] = c;
        counts[i] = n[i] < TABLE_MAX ? n[i] : TABLE_MAX;
        tables[i] = t[i];
    }
}

const char *names_pick(synth_rng *r, int which)
{
    names_init();
    uint32_t x = rng_below(r, total[which]);
    size_t lo = 0, hi = counts[which] - 1;
    while (lo < hi) { /* first index with cum > x */
        size_t mid = (lo + hi) / 2;
        if (cum[which][mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return tables[which][lo].name;
}

/* Nickname groups: formal name first, then the short forms recorders use. */
static const char *const nicknames[][5] = {
    {"William", "Bill", "Will", "Billy", NULL},   {"Robert", "Bob", "Rob", "Bobby", NULL},
    {"Elizabeth", "Liz", "Beth", "Lizzie", NULL}, {"Margaret", "Maggie", "Peggy", "Meg", NULL},
    {"James", "Jim", "Jimmy", "Jamie", NULL},     {"Thomas", "Tom", "Tommy", NULL, NULL},
    {"Richard", "Rich", "Dick", "Richie", NULL},  {"Katherine", "Kate", "Kathy", "Katie", NULL},
    {"Catherine", "Cathy", "Kate", "Cath", NULL}, {"Jennifer", "Jenny", "Jen", NULL, NULL},
    {"Michael", "Mike", "Mick", NULL, NULL},      {"Christopher", "Chris", NULL, NULL, NULL},
    {"Alexander", "Alex", "Sandy", NULL, NULL},   {"Alexandra", "Alex", "Lexi", NULL, NULL},
    {"Daniel", "Dan", "Danny", NULL, NULL},       {"Matthew", "Matt", NULL, NULL, NULL},
    {"Samuel", "Sam", "Sammy", NULL, NULL},       {"Samantha", "Sam", "Sammy", NULL, NULL},
    {"Joseph", "Joe", "Joey", NULL, NULL},        {"Anthony", "Tony", "Ant", NULL, NULL},
    {"Edward", "Ed", "Ted", "Eddie", NULL},       {"Rebecca", "Becky", "Becca", NULL, NULL},
    {"Victoria", "Vicky", "Tori", NULL, NULL},    {"Susan", "Sue", "Susie", NULL, NULL},
    {"Patricia", "Pat", "Trish", NULL, NULL},     {"Jacqueline", "Jackie", NULL, NULL, NULL},
    {"Deborah", "Debbie", "Debs", NULL, NULL},    {"Nicholas", "Nick", "Nicky", NULL, NULL},
    {"Benjamin", "Ben", NULL, NULL, NULL},        {"Jonathan", "Jon", "Jonny", NULL, NULL},
    {"Stephen", "Steve", NULL, NULL, NULL},       {"Steven", "Steve", NULL, NULL, NULL},
    {"Abigail", "Abbie", "Abi", NULL, NULL},      {"Charlotte", "Lottie", "Charlie", NULL, NULL},
    {"Oliver", "Ollie", NULL, NULL, NULL},        {"Henry", "Harry", "Hal", NULL, NULL},
    {"Frederick", "Fred", "Freddie", NULL, NULL}, {"Charles", "Charlie", "Chas", NULL, NULL},
    {"Kenneth", "Ken", "Kenny", NULL, NULL},      {"Raymond", "Ray", NULL, NULL, NULL},
    {"Philip", "Phil", NULL, NULL, NULL},         {"Andrew", "Andy", "Drew", NULL, NULL},
    {"David", "Dave", "Davy", NULL, NULL},        {"Peter", "Pete", NULL, NULL, NULL},
    {"Joshua", "Josh", NULL, NULL, NULL},         {"Isabella", "Bella", "Izzy", NULL, NULL},
    {"Eleanor", "Ellie", "Nell", NULL, NULL},     {"Florence", "Flo", "Florrie", NULL, NULL},
    {"Amelia", "Millie", "Mia", NULL, NULL},      {"Jessica", "Jess", NULL, NULL, NULL},
    {"Stephanie", "Steph", NULL, NULL, NULL},     {"Christine", "Chris", "Chrissie", NULL, NULL},
    {"Jennifer", "Jenny", NULL, NULL, NULL},      {"Mohammed", "Mo", NULL, NULL, NULL},
    {"Muhammad", "Mo", NULL, NULL, NULL},         {"Gareth", "Gaz", NULL, NULL, NULL},
    {"Alfie", "Alf", NULL, NULL, NULL},           {"Archie", "Arch", NULL, NULL, NULL},
    {"Hannah", "Han", NULL, NULL, NULL},          {"Angela", "Angie", NULL, NULL, NULL},
    {"Barbara", "Barb", "Babs", NULL, NULL},      {"Pauline", "Paula", NULL, NULL, NULL},
};

const char *names_nickname(synth_rng *r, const char *forename)
{
    for (size_t i = 0; i < COUNT(nicknames); i++) {
        if (strcmp(nicknames[i][0], forename) != 0)
            continue;
        uint32_t n = 0;
        while (n < 4 && nicknames[i][n + 1])
            n++;
        return nicknames[i][1 + rng_below(r, n)];
    }
    return NULL;
}
